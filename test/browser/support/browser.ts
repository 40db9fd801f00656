import { accessSync, constants, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

import { chromium } from 'playwright-core';
import type { Browser, CDPSession, Page } from 'playwright-core';

/**
 * Headless Chromium for browser tests: Debian's `chromium` package driven by playwright-core
 * (which never downloads a browser). `CHROMIUM_PATH` overrides the binary.
 *
 * Pages must be loaded from `http://localhost:<port>`, never `http://127.0.0.1:<port>`: a WebAuthn
 * RP ID must be a domain (an IP address is rejected), and `localhost` is also a secure context
 * over plain HTTP, so `navigator.credentials` is available there.
 *
 * localhost vs ::1 (observed with Chromium 156 on Debian 12): Chromium does not use /etc/hosts for
 * `localhost` (here it says only 127.0.0.1); it resolves the name itself to both loopback
 * addresses and tries ::1 FIRST. With a server on 127.0.0.1 only, the ::1 attempt is refused at
 * once and Chromium falls back to 127.0.0.1, so the page loads anyway; but with two listeners on
 * the same port number (127.0.0.1 and ::1), the ::1 one answered every time. Test servers listen
 * on 127.0.0.1 and pick a port that is free there only, so another process on [::1]:<port> could
 * answer in our place, and a network where ::1 is dropped rather than refused would make every
 * load wait for the fallback. `--host-resolver-rules=MAP localhost 127.0.0.1` pins `localhost` to
 * 127.0.0.1 inside Chromium; the page's origin is still `http://localhost:<port>` (a secure
 * context, RP ID `localhost`), and a listener on ::1 alone is then refused.
 */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--host-resolver-rules=MAP localhost 127.0.0.1',
];

export function chromiumPath(): string {
  return process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
}

export async function launchBrowser(): Promise<Browser> {
  const executablePath = chromiumPath();
  try {
    accessSync(executablePath, constants.X_OK);
  } catch {
    throw new Error(
      `no Chromium at ${executablePath}: install Debian's chromium: apt-get install -y chromium ` +
        '(or set CHROMIUM_PATH to a Chromium binary)',
    );
  }
  return chromium.launch({ executablePath, args: [...CHROMIUM_ARGS] });
}

/** A credential held by a virtual authenticator, as CDP's WebAuthn.getCredentials reports it. */
export interface VirtualCredential {
  /** base64 (standard alphabet, padded), not base64url. */
  credentialId: string;
  isResidentCredential: boolean;
  rpId?: string;
  /** base64 PKCS#8 of the ECDSA P-256 private key. */
  privateKey: string;
  /** base64 of the user handle (`user.id` at registration). */
  userHandle?: string;
  signCount: number;
  userName?: string;
  userDisplayName?: string;
}

export interface VirtualAuthenticator {
  /** The page's CDP session; keep it open for as long as the authenticator is needed. */
  cdp: CDPSession;
  authenticatorId: string;
  credentials(): Promise<VirtualCredential[]>;
}

/** Options of CDP's WebAuthn.addVirtualAuthenticator (the ones tests are likely to change). */
export interface VirtualAuthenticatorOptions {
  protocol: 'u2f' | 'ctap2';
  transport: 'usb' | 'nfc' | 'ble' | 'cable' | 'hybrid' | 'internal';
  hasResidentKey: boolean;
  hasUserVerification: boolean;
  isUserVerified: boolean;
  automaticPresenceSimulation: boolean;
}

export const DEFAULT_AUTHENTICATOR: Readonly<VirtualAuthenticatorOptions> = {
  protocol: 'ctap2',
  transport: 'internal',
  hasResidentKey: true,
  hasUserVerification: true,
  isUserVerified: true,
  automaticPresenceSimulation: true,
};

/**
 * Gives `page` a virtual platform authenticator (a passkey provider with user verification that
 * succeeds, no UI): WebAuthn.enable without UI, then WebAuthn.addVirtualAuthenticator with
 * DEFAULT_AUTHENTICATOR and `overrides`. Its credentials live as long as the CDP session.
 */
export async function addVirtualAuthenticator(
  page: Page,
  overrides: Partial<VirtualAuthenticatorOptions> = {},
): Promise<VirtualAuthenticator> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { ...DEFAULT_AUTHENTICATOR, ...overrides },
  });
  return {
    cdp,
    authenticatorId,
    credentials: async () => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials,
  };
}

/** Makes user verification on the authenticator succeed (true) or fail (false) from now on. */
export async function setUserVerified(cdp: CDPSession, authenticatorId: string, isUserVerified: boolean): Promise<void> {
  await cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified });
}

/** Full-page PNG at `path` (folders created), for looking at a failing test. */
export async function screenshot(page: Page, path: string): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  await page.screenshot({ path, fullPage: true });
}
