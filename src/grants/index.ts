import type { Provider } from 'oidc-provider';

import type { Registry } from '../registry/registry.js';
import type { Minter } from '../tokens/mint.js';
import * as clientCredentials from './client-credentials.js';

/** What every grant handler may use. */
export interface GrantDeps {
  registry: Registry;
  minter: Minter;
}

const grants = [clientCredentials];

/** The grant types Mandate adds to oidc-provider, registered in one loop. */
export function registerGrants(provider: Provider, deps: GrantDeps): void {
  for (const grant of grants) {
    provider.registerGrantType(grant.grantType, grant.handler(deps), grant.parameters, grant.duplicates);
  }
}

export const grantTypes = grants.map((g) => g.grantType);
