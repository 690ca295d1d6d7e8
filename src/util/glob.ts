/** `*` wildcards only, anchored: the pattern language of config files (model names, IAM actions). */
export function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`);
}

export function globMatch(pattern: string, value: string): boolean {
  return globToRegExp(pattern).test(value);
}
