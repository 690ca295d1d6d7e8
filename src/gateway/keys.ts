/**
 * The gateway's virtual keys. A key is shown once, at creation, in two forms that name the same
 * key: a token (`x-api-key`, `Authorization: Bearer`, or a Bedrock API key) and an AWS-style pair
 * (access key id and secret, for SigV4 clients such as boto3 and the AWS SDKs).
 *
 * Nothing secret is stored. The store keeps the token's SHA-256; the pair's secret is derived as
 * HMAC-SHA256(gateway secret, key id), because SigV4 verification needs the secret itself (its
 * signing key starts from it), and a hash cannot give it back. The gateway secret lives in its
 * own file (mode 0600) beside the store, or in `BEDROCK_CLAUDE_GATEWAY_SECRET` for replicas: a
 * copy of the key store alone lets nobody sign or present a key.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { bedrockClaudeHome } from "../config/home.js";

export interface KeyLimits {
  /** Models the key may call (Anthropic names, aliases or Bedrock ids, `*` globs); empty: all. */
  models: string[];
  /** Requests per minute. */
  rpm: number | null;
  /** Tokens per minute (input estimate plus max_tokens at admission, actual once recorded). */
  tpm: number | null;
  /** A hard budget in USD per day or month. */
  budget: { limitUsd: number; period: "day" | "month" } | null;
}

export interface VirtualKey extends KeyLimits {
  /** 16 characters, [A-Z0-9]: the visible part of both forms. */
  id: string;
  name: string;
  /** May call the admin endpoints and open the dashboard. */
  admin: boolean;
  createdAt: number;
  revokedAt: number | null;
  /** The token's first characters, for lists (`bck-AB12…`). */
  hint: string;
}

/** What `create` hands back, once. */
export interface CreatedKey {
  key: VirtualKey;
  /** `x-api-key` / `Authorization: Bearer` value. */
  token: string;
  /** SigV4: access key id and secret access key. */
  accessKeyId: string;
  secretAccessKey: string;
}

export interface NewKey extends Partial<KeyLimits> {
  name: string;
  admin?: boolean;
}

/** Storage of virtual keys; SQLite by default, behind this interface so that a shared store can follow. */
export interface KeyStore {
  create(input: NewKey): CreatedKey;
  list(options?: { includeRevoked?: boolean }): VirtualKey[];
  /** Revokes by id or name; returns the key, or undefined when there is none active. */
  revoke(idOrName: string): VirtualKey | undefined;
  /** The active key a token names, compared in constant time; undefined otherwise. */
  verifyToken(token: string): VirtualKey | undefined;
  /** The active key behind a SigV4 access key id, with its derived secret. */
  signingSecret(accessKeyId: string): { key: VirtualKey; secretAccessKey: string } | undefined;
  /** Active keys exist (the gateway runs open only without them). */
  hasKeys(): boolean;
  /** A number that changes whenever this store object creates or revokes a key (cache invalidation). */
  generation(): number;
  close(): void;
}

const TOKEN_PREFIX = "bck-";
const ACCESS_KEY_PREFIX = "BCKA";
const ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const TOKEN_SHAPE = /^bck-([A-Z2-7]{16})-([A-Za-z0-9_-]{43})$/;

function newId(): string {
  const bytes = randomBytes(16);
  let id = "";
  for (const byte of bytes) id += ID_ALPHABET[byte % 32];
  return id;
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

/** The gateway secret: `BEDROCK_CLAUDE_GATEWAY_SECRET`, else a file made on first use (0600). */
export function gatewaySecret(file: string, env = process.env): Buffer {
  const fromEnv = env.BEDROCK_CLAUDE_GATEWAY_SECRET;
  if (fromEnv) return Buffer.from(fromEnv, "utf8");
  if (existsSync(file)) return Buffer.from(readFileSync(file, "utf8").trim(), "base64url");
  mkdirSync(path.dirname(file), { recursive: true });
  const secret = randomBytes(32);
  writeFileSync(file, `${secret.toString("base64url")}\n`, { mode: 0o600, flag: "wx" });
  chmodSync(file, 0o600);
  return secret;
}

/** Parses `100/month`, `5/day`, `$20/month`. */
export function parseBudget(text: string): { limitUsd: number; period: "day" | "month" } {
  const match = /^\$?(\d+(?:\.\d+)?)\s*\/\s*(day|month)$/i.exec(text.trim());
  if (!match || Number(match[1]) <= 0) {
    throw new Error(`a budget is an amount in USD per day or month, like 100/month or 5/day; got "${text}"`);
  }
  return { limitUsd: Number(match[1]), period: match[2]!.toLowerCase() as "day" | "month" };
}

interface KeyRow {
  id: string;
  name: string;
  token_sha256: Buffer;
  hint: string;
  admin: number;
  models: string;
  rpm: number | null;
  tpm: number | null;
  budget_usd: number | null;
  budget_period: "day" | "month" | null;
  created_at: number;
  revoked_at: number | null;
}

const MIGRATIONS = [
  `CREATE TABLE keys (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     token_sha256 BLOB NOT NULL,
     hint TEXT NOT NULL,
     admin INTEGER NOT NULL,
     models TEXT NOT NULL,
     rpm REAL,
     tpm REAL,
     budget_usd REAL,
     budget_period TEXT,
     created_at INTEGER NOT NULL,
     revoked_at INTEGER
   );
   CREATE UNIQUE INDEX keys_active_name ON keys (name) WHERE revoked_at IS NULL;`,
];

function toKey(row: KeyRow): VirtualKey {
  return {
    id: row.id,
    name: row.name,
    admin: row.admin === 1,
    models: JSON.parse(row.models) as string[],
    rpm: row.rpm,
    tpm: row.tpm,
    budget:
      row.budget_usd !== null && row.budget_period !== null
        ? { limitUsd: row.budget_usd, period: row.budget_period }
        : null,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
    hint: row.hint,
  };
}

export class KeyNameTakenError extends Error {
  override readonly name = "KeyNameTakenError";
}

/** Keys in SQLite (WAL: the CLI creates and revokes while a gateway reads; each lookup sees it at once). */
export class SqliteKeyStore implements KeyStore {
  private readonly db: Database.Database;
  private readonly secret: Buffer;
  private readonly byId: Database.Statement<[string], KeyRow>;
  private readonly anyActive: Database.Statement<[], { one: number }>;
  private changes = 0;

  constructor(file: string, options: { secretFile?: string; env?: NodeJS.ProcessEnv } = {}) {
    mkdirSync(path.dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("busy_timeout = 5000");
    const version = this.db.pragma("user_version", { simple: true }) as number;
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v]!);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
    this.secret = gatewaySecret(
      options.secretFile ?? path.join(path.dirname(file), "gateway-secret"),
      options.env,
    );
    this.byId = this.db.prepare("SELECT * FROM keys WHERE id = ? AND revoked_at IS NULL");
    this.anyActive = this.db.prepare("SELECT 1 AS one FROM keys WHERE revoked_at IS NULL LIMIT 1");
  }

  private secretOf(id: string): string {
    return createHmac("sha256", this.secret).update(`bedrock-claude key ${id}`).digest("base64url");
  }

  create(input: NewKey): CreatedKey {
    const name = input.name.trim();
    if (!/^[\w.@:-]{1,64}$/.test(name)) {
      throw new Error(
        `a key name is 1 to 64 letters, digits or . _ - @ : (it names the key in the ledger); got "${input.name}"`,
      );
    }
    for (const [label, value] of [
      ["rpm", input.rpm],
      ["tpm", input.tpm],
    ] as const) {
      if (value !== undefined && value !== null && !(value > 0)) throw new Error(`${label} must be above 0`);
    }
    const id = newId();
    const secret = this.secretOf(id);
    const token = `${TOKEN_PREFIX}${id}-${secret}`;
    const row: KeyRow = {
      id,
      name,
      token_sha256: sha256(token),
      hint: `${TOKEN_PREFIX}${id.slice(0, 4)}…`,
      admin: input.admin ? 1 : 0,
      models: JSON.stringify(input.models ?? []),
      rpm: input.rpm ?? null,
      tpm: input.tpm ?? null,
      budget_usd: input.budget?.limitUsd ?? null,
      budget_period: input.budget?.period ?? null,
      created_at: Date.now(),
      revoked_at: null,
    };
    try {
      this.db
        .prepare(
          `INSERT INTO keys VALUES (@id, @name, @token_sha256, @hint, @admin, @models, @rpm, @tpm, @budget_usd,
             @budget_period, @created_at, @revoked_at)`,
        )
        .run(row);
    } catch (error) {
      if ((error as { code?: string }).code === "SQLITE_CONSTRAINT_UNIQUE") {
        throw new KeyNameTakenError(
          `an active key is already named "${name}"; revoke it or pick another name`,
        );
      }
      throw error;
    }
    this.changes++;
    return { key: toKey(row), token, accessKeyId: `${ACCESS_KEY_PREFIX}${id}`, secretAccessKey: secret };
  }

  list(options: { includeRevoked?: boolean } = {}): VirtualKey[] {
    const rows = this.db
      .prepare(
        `SELECT * FROM keys ${options.includeRevoked ? "" : "WHERE revoked_at IS NULL"} ORDER BY created_at, id`,
      )
      .all() as KeyRow[];
    return rows.map(toKey);
  }

  revoke(idOrName: string): VirtualKey | undefined {
    const id = idOrName.startsWith(ACCESS_KEY_PREFIX) ? idOrName.slice(ACCESS_KEY_PREFIX.length) : idOrName;
    const row = this.db
      .prepare("SELECT * FROM keys WHERE (id = ? OR name = ?) AND revoked_at IS NULL")
      .get(id, idOrName) as KeyRow | undefined;
    if (!row) return undefined;
    const revokedAt = Date.now();
    this.db.prepare("UPDATE keys SET revoked_at = ? WHERE id = ?").run(revokedAt, row.id);
    this.changes++;
    return toKey({ ...row, revoked_at: revokedAt });
  }

  verifyToken(token: string): VirtualKey | undefined {
    const match = TOKEN_SHAPE.exec(token);
    if (!match) return undefined;
    const row = this.byId.get(match[1]!);
    if (!row) return undefined;
    const presented = sha256(token);
    return timingSafeEqual(presented, row.token_sha256) ? toKey(row) : undefined;
  }

  signingSecret(accessKeyId: string): { key: VirtualKey; secretAccessKey: string } | undefined {
    if (!accessKeyId.startsWith(ACCESS_KEY_PREFIX)) return undefined;
    const row = this.byId.get(accessKeyId.slice(ACCESS_KEY_PREFIX.length));
    return row ? { key: toKey(row), secretAccessKey: this.secretOf(row.id) } : undefined;
  }

  hasKeys(): boolean {
    return this.anyActive.get() !== undefined;
  }

  generation(): number {
    return this.changes;
  }

  close(): void {
    this.db.close();
  }
}

/** `$BEDROCK_CLAUDE_HOME/keys.db` unless told otherwise. */
export function defaultKeysPath(env = process.env): string {
  return path.join(bedrockClaudeHome(env), "keys.db");
}
