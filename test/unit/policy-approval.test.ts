import { describe, expect, it } from '@jest/globals';

import { approvalNeeded, type ApprovalDecision, type ApprovalInput } from '../../src/policy/approval.js';

// SPEC section 6 "When": tier `approval: always`; tier `high_risk` and an issued scope in the
// resource's `high_risk_scopes`. (The consent case, no delegation for a user with a passkey, is
// decided where delegations are looked up.)

const HIGH_RISK = ['trips:book', 'payments:create'];

describe('approvalNeeded', () => {
  it.each<[ApprovalInput['tierApproval'], string[], ApprovalDecision]>([
    ['always', ['trips:read'], { needed: true, reason: 'tier_always', scopes: ['trips:read'] }],
    ['always', ['trips:read', 'trips:book'], { needed: true, reason: 'tier_always', scopes: ['trips:read', 'trips:book'] }],
    ['always', [], { needed: true, reason: 'tier_always', scopes: [] }],
    ['high_risk', ['trips:read', 'trips:book'], { needed: true, reason: 'high_risk_scope', scopes: ['trips:book'] }],
    ['high_risk', ['payments:create', 'trips:read', 'trips:book'], { needed: true, reason: 'high_risk_scope', scopes: ['payments:create', 'trips:book'] }],
    ['high_risk', ['trips:read'], { needed: false }],
    ['high_risk', [], { needed: false }],
    ['never', ['trips:read', 'trips:book', 'payments:create'], { needed: false }],
    ['never', ['trips:read'], { needed: false }],
  ])('tier approval %s with scopes %j → %j', (tierApproval, scopes, decision) => {
    expect(approvalNeeded({ tierApproval, highRiskScopes: HIGH_RISK, scopes })).toStrictEqual(decision);
  });

  it('needs no approval at a high_risk tier when the resource declares no high-risk scope', () => {
    expect(approvalNeeded({ tierApproval: 'high_risk', highRiskScopes: [], scopes: ['trips:book'] })).toStrictEqual({ needed: false });
  });

  it('answers with a copy of the scopes, not the caller list', () => {
    const scopes = ['trips:read'];
    const decision = approvalNeeded({ tierApproval: 'always', highRiskScopes: [], scopes });
    expect(decision.needed && decision.scopes).not.toBe(scopes);
  });
});
