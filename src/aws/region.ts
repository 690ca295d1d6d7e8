/**
 * The region, with AWS's precedence: the explicit option, then `AWS_REGION`, then
 * `AWS_DEFAULT_REGION` (the AWS CLI's), then the `region` of the profile in the shared config
 * file. The source is kept so that the doctor can say where the region came from.
 */
import { loadSharedConfigFiles } from "@smithy/shared-ini-file-loader";

export interface RegionChoice {
  region: string;
  source: "option" | "AWS_REGION" | "AWS_DEFAULT_REGION" | "profile" | "default";
}

export const DEFAULT_REGION = "us-east-1";

export async function resolveRegion(option?: string, profile?: string): Promise<RegionChoice> {
  if (option) return { region: option, source: "option" };
  if (process.env.AWS_REGION) return { region: process.env.AWS_REGION, source: "AWS_REGION" };
  if (process.env.AWS_DEFAULT_REGION)
    return { region: process.env.AWS_DEFAULT_REGION, source: "AWS_DEFAULT_REGION" };
  const name = profile ?? process.env.AWS_PROFILE ?? "default";
  try {
    const { configFile } = await loadSharedConfigFiles({ ignoreCache: true });
    const region = configFile[name]?.region;
    if (region) return { region, source: "profile" };
  } catch {
    // no config file: fall through to the default
  }
  return { region: DEFAULT_REGION, source: "default" };
}
