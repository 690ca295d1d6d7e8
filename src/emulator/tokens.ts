/**
 * The emulator's token count: a documented approximation, the same on input and output.
 *
 * A token is an optional run of white space followed by one to six non-space characters, so
 * "serverless architectures" is four tokens ("server", "less", " archit", "ectures"). English prose
 * comes out near one token per five characters, close to Claude's tokenizer; output token counts
 * are exact in the sense that they count exactly the pieces the emulator emitted.
 */
const TOKEN = /\s*\S{1,6}/g;

/** Splits text into tokens; joining them gives the text back (white space after the last one rides on it). */
export function tokenize(text: string): string[] {
  const tokens = text.match(TOKEN) ?? [];
  if (tokens.length > 0) {
    const consumed = tokens.reduce((n, t) => n + t.length, 0);
    if (consumed < text.length) tokens[tokens.length - 1] += text.slice(consumed);
  }
  return tokens;
}

export function countTokens(text: string): number {
  let count = 0;
  TOKEN.lastIndex = 0;
  while (TOKEN.exec(text) !== null) count++;
  return count;
}

/** Fixed costs, as the Anthropic docs give them for the real tokenizer (approximate). */
export const TOKEN_COSTS = {
  /** Per message: role and turn markers. */
  perMessage: 3,
  /** An image at the largest size that is not downscaled (~1.15 megapixels / 750). */
  image: 1600,
  /** A PDF page rendered as image plus its text, roughly. */
  documentPage: 1500,
  /** The system prompt that tool use adds. */
  toolUseSystemPrompt: 300,
} as const;
