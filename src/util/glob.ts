/** `*` wildcards only, anchored: the pattern language of config files (model names, IAM actions). */
const compiled = new Map<string, RegExp>();

/** The pattern as a RegExp, compiled once: patterns are checked on every request (faults, quotas, rights). */
export function globToRegExp(glob: string): RegExp {
  let re = compiled.get(glob);
  if (!re) {
    re = new RegExp(`^${glob.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`);
    compiled.set(glob, re);
  }
  return re;
}

export function globMatch(pattern: string, value: string): boolean {
  return globToRegExp(pattern).test(value);
}
