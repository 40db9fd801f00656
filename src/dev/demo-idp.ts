import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { SignJWT, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';

/**
 * A stand-in for your company's identity provider, for the README walkthrough on the embedded
 * default: it signs user access tokens that the demo policy trusts (`trusted_issuers` entry with
 * `jwks_file: keys/demo-idp/jwks.json`). Its private key lives in the keys folder (mode 0600,
 * gitignored) and is created on first use. Never part of a production policy.
 *
 *   npm run demo-idp -- token alice [--scope "trips:read"] [--may-act travel-agent] [--ttl 600]
 */
export const DEMO_IDP_ISSUER = 'https://idp.demo.mandate.local';

const USAGE = 'usage: npm run demo-idp -- token <user> [--scope "a b"] [--may-act <agent>] [--ttl <seconds>] [--aud <mandate issuer>]';

async function demoKey(dir: string): Promise<{ privateJwk: JWK }> {
  const file = join(dir, 'private.json');
  try {
    return JSON.parse(await readFile(file, 'utf8')) as { privateJwk: JWK };
  } catch {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const kid = `demo-${Date.now().toString(36)}`;
    const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: 'ES256' };
    await mkdir(dir, { recursive: true });
    await writeFile(file, JSON.stringify({ privateJwk }), { mode: 0o600 });
    await chmod(file, 0o600);
    await writeFile(join(dir, 'jwks.json'), JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }] }));
    return { privateJwk };
  }
}

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

async function main(args: string[]): Promise<number> {
  const [command, user] = args;
  if (command !== 'token' || !user || user.startsWith('--')) {
    process.stderr.write(`${USAGE}\n`);
    return 1;
  }
  const ttl = Number(option(args, 'ttl') ?? 600);
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > 86400) {
    process.stderr.write(`--ttl: expected whole seconds from 1 to 86400\n${USAGE}\n`);
    return 1;
  }
  const port = process.env.PORT || '3000';
  const audience = option(args, 'aud') ?? process.env.MANDATE_ISSUER ?? `http://localhost:${port}`;
  // Fixed path: the demo policy names keys/demo-idp/jwks.json.
  const { privateJwk } = await demoKey(join('keys', 'demo-idp'));
  const mayAct = option(args, 'may-act');
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({ scope: option(args, 'scope') ?? 'trips:read', ...(mayAct ? { may_act: { sub: mayAct } } : {}) })
    .setProtectedHeader({ alg: 'ES256', kid: privateJwk.kid!, typ: 'at+jwt' })
    .setIssuer(DEMO_IDP_ISSUER).setSubject(user).setAudience(audience).setIssuedAt(now).setExpirationTime(now + ttl)
    .sign(await importJWK(privateJwk, 'ES256'));
  process.stdout.write(`${token}\n`);
  return 0;
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (err: unknown) => {
  process.stderr.write(`demo-idp: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
