/**
 * oidc-provider warns once per process that Node 20 is not its preferred runtime and that the
 * body was read upstream (Mandate reads it first to enforce its 64 KiB limit). Both are expected;
 * drop them so real warnings stand out in test output.
 */
const EXPECTED = ['oidc-provider WARNING: Unsupported runtime', 'oidc-provider WARNING: already parsed request body'];
const warn = console.warn.bind(console);
console.warn = (...args: unknown[]): void => {
  if (typeof args[0] === 'string' && EXPECTED.some((prefix) => (args[0] as string).startsWith(prefix))) return;
  warn(...args);
};
