import type { Provider } from 'oidc-provider';
import type { Counter } from 'prom-client';

import type { Approvals } from '../approvals/approvals.js';
import type { AuditTrail } from '../audit/trail.js';
import type { BackchannelDeps } from '../approvals/backchannel.js';
import type { ExchangeDeps } from '../exchange/exchange.js';
import type { Registry } from '../registry/registry.js';
import type { Minter } from '../tokens/mint.js';
import * as ciba from './ciba.js';
import * as clientCredentials from './client-credentials.js';
import * as tokenExchange from './token-exchange.js';

/** What every grant handler may use. */
export interface GrantDeps {
  issuer: string;
  audit: AuditTrail;
  registry: Registry;
  minter: Minter;
  exchange: ExchangeDeps;
  approvals: Approvals;
  backchannel: BackchannelDeps;
  /** `mandate_token_exchanges_total{outcome}`. */
  exchangesTotal: Counter<'outcome'>;
}

interface Grant {
  grantType: string;
  parameters: readonly string[];
  duplicates?: readonly string[];
  handler(deps: GrantDeps): Parameters<Provider['registerGrantType']>[1];
}

const grants: Grant[] = [clientCredentials, tokenExchange, ciba, ciba.backchannel];

/** The grant types Mandate adds to oidc-provider, registered in one loop. */
export function registerGrants(provider: Provider, deps: GrantDeps): void {
  for (const grant of grants) {
    provider.registerGrantType(grant.grantType, grant.handler(deps), [...grant.parameters], grant.duplicates ? [...grant.duplicates] : undefined);
  }
}

/** Every grant type a client may send (each handler decides per client). */
export const grantTypes = grants.map((g) => g.grantType);

/** Grant types published in discovery: the internal backchannel one is not a grant a client uses. */
export const publishedGrantTypes = grantTypes.filter((g) => g !== ciba.BACKCHANNEL_GRANT);
