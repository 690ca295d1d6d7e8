/**
 * Conformance of the emulator's STS GetCallerIdentity with the official `@aws-sdk/client-sts`:
 * unmodified clients (endpoint and credentials aside) over real HTTP, query protocol in, XML out,
 * auth failures as the SDK's typed query-protocol errors.
 */
import { GetCallerIdentityCommand, STSClient, STSServiceException } from "@aws-sdk/client-sts";
import { describe, expect, it } from "vitest";
import { awsClientConfig, rejection, TEST_CREDENTIALS, useClients, useEmulator } from "../helpers.js";

interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

const DEPLOYER = { accessKeyId: "AKIADEPLOYERKEY00001", secretAccessKey: "deployer-secret-key" };
const BUILDER = { accessKeyId: "AKIABUILDERKEY000001", secretAccessKey: "builder-secret-key" };
const TEMPORARY = {
  accessKeyId: "ASIATEMPORARYKEY0001",
  secretAccessKey: "temporary-secret-key",
  sessionToken: "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN",
};
const TEMPORARY_ARN = "arn:aws:sts::333344445555:assumed-role/ci-runner/build-42";

const emulator = useEmulator({
  config: {
    identities: [
      {
        name: "deployer",
        ...DEPLOYER,
        account: "111122223333",
        arn: "arn:aws:iam::111122223333:user/ci/deployer",
      },
      { name: "builder", ...BUILDER, account: "222233334444" },
      { name: "ci-runner", ...TEMPORARY, account: "333344445555", arn: TEMPORARY_ARN },
    ],
  },
});

const keep = useClients();
function sts(credentials: Credentials = TEST_CREDENTIALS): STSClient {
  return keep(new STSClient(awsClientConfig(emulator.current.url, { credentials })));
}

function whoAmI(credentials?: Credentials) {
  return sts(credentials).send(new GetCallerIdentityCommand({}));
}

/** The rejection of a call, or a failure when it succeeds. */
const rejectionOf = (call: Promise<unknown>) => rejection<STSServiceException>(call);

const INVALID_TOKEN = "The security token included in the request is invalid.";

describe("GetCallerIdentity", () => {
  it("names the default identity: account 000000000000, its root ARN", async () => {
    const output = await whoAmI();
    expect(output.$metadata.httpStatusCode).toBe(200);
    expect(output.$metadata.requestId).toBeTruthy();
    expect(output.Account).toBe("000000000000");
    expect(output.Arn).toBe("arn:aws:iam::000000000000:root");
    expect(output.UserId).toBeTruthy();
  });

  it("answers the account id as UserId for the root identity, as AWS does for the root user", async () => {
    const output = await whoAmI();
    expect(output.Arn).toMatch(/:root$/);
    expect(output.UserId).toBe(output.Account);
  });

  it("names a configured identity with its own account and ARN", async () => {
    const output = await whoAmI(DEPLOYER);
    expect(output.$metadata.httpStatusCode).toBe(200);
    expect(output.Account).toBe("111122223333");
    expect(output.Arn).toBe("arn:aws:iam::111122223333:user/ci/deployer");

    const builder = await whoAmI(BUILDER);
    expect(builder.Account).toBe("222233334444");
    expect(builder.Arn).toBe("arn:aws:iam::222233334444:user/builder");
  });

  it("answers an IAM user's unique id (AIDA…) as UserId, not its access key id", async () => {
    const output = await whoAmI(DEPLOYER);
    expect(output.UserId).not.toBe(DEPLOYER.accessKeyId);
    expect(output.UserId).toMatch(/^AIDA[A-Z0-9]{12,}$/);
  });

  it("accepts temporary credentials that carry their session token", async () => {
    const output = await whoAmI(TEMPORARY);
    expect(output.$metadata.httpStatusCode).toBe(200);
    expect(output.Account).toBe("333344445555");
    expect(output.Arn).toBe(TEMPORARY_ARN);
  });

  it("answers role-id:session-name as UserId for an assumed role", async () => {
    const output = await whoAmI(TEMPORARY);
    expect(output.UserId).toMatch(/^AROA[A-Z0-9]+:build-42$/);
  });

  it("refuses temporary credentials sent without their session token: InvalidClientTokenId", async () => {
    const { sessionToken: _omitted, ...withoutToken } = TEMPORARY;
    const error = await rejectionOf(whoAmI(withoutToken));
    expect(error).toBeInstanceOf(STSServiceException);
    expect(error.name).toBe("InvalidClientTokenId");
    expect(error.$fault).toBe("client");
    expect(error.$metadata.httpStatusCode).toBe(403);
    expect(error.message).toBe(INVALID_TOKEN);
  });

  it("refuses an unknown access key: InvalidClientTokenId, 403", async () => {
    const error = await rejectionOf(
      whoAmI({ accessKeyId: "AKIAUNKNOWNKEY000001", secretAccessKey: "whatever" }),
    );
    expect(error).toBeInstanceOf(STSServiceException);
    expect(error.name).toBe("InvalidClientTokenId");
    expect(error.$fault).toBe("client");
    expect(error.$metadata.httpStatusCode).toBe(403);
    expect(error.message).toBe(INVALID_TOKEN);
  });

  it("refuses a wrong secret key: SignatureDoesNotMatch, 403", async () => {
    const error = await rejectionOf(
      whoAmI({ accessKeyId: DEPLOYER.accessKeyId, secretAccessKey: "not-the-secret" }),
    );
    expect(error).toBeInstanceOf(STSServiceException);
    expect(error.name).toBe("SignatureDoesNotMatch");
    expect(error.$fault).toBe("client");
    expect(error.$metadata.httpStatusCode).toBe(403);
    expect(error.message).toMatch(
      /^The request signature we calculated does not match the signature you provided\. Check your AWS Secret Access Key and signing method\./,
    );
  });
});
