import type { Provider } from 'oidc-provider';
import type { Counter } from 'prom-client';

import type { ExchangeDeps } from '../exchange/exchange.js';
import type { Registry } from '../registry/registry.js';
import type { Minter } from '../tokens/mint.js';
import * as clientCredentials from './client-credentials.js';
import * as tokenExchange from './token-exchange.js';

/** What every grant handler may use. */
export interface GrantDeps {
  registry: Registry;
  minter: Minter;
  exchange: ExchangeDeps;
  /** `mandate_token_exchanges_total{outcome}`. */
  exchangesTotal: Counter<'outcome'>;
}

const grants = [clientCredentials, tokenExchange];

/** The grant types Mandate adds to oidc-provider, registered in one loop. */
export function registerGrants(provider: Provider, deps: GrantDeps): void {
  for (const grant of grants) {
    provider.registerGrantType(grant.grantType, grant.handler(deps), grant.parameters, grant.duplicates);
  }
}

export const grantTypes = grants.map((g) => g.grantType);
