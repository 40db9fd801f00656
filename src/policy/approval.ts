export interface ApprovalInput {
  /** The agent's tier `approval` setting. */
  tierApproval: 'always' | 'high_risk' | 'never';
  /** The target resource's `high_risk_scopes` (none for an agent target). */
  highRiskScopes: readonly string[];
  /** The scopes the token would carry (after the scope decision). */
  scopes: readonly string[];
}

export type ApprovalDecision = { needed: false } | { needed: true; reason: 'tier_always' | 'high_risk_scope'; scopes: string[] };

/**
 * SPEC section 6 "When": tier `always`, or tier `high_risk` and a scope that is high-risk (the
 * answer lists those, for the approval page). A missing delegation is decided elsewhere.
 */
export function approvalNeeded(input: ApprovalInput): ApprovalDecision {
  if (input.tierApproval === 'always') return { needed: true, reason: 'tier_always', scopes: [...input.scopes] };
  if (input.tierApproval === 'high_risk') {
    const risky = input.scopes.filter((s) => input.highRiskScopes.includes(s));
    if (risky.length > 0) return { needed: true, reason: 'high_risk_scope', scopes: risky };
  }
  return { needed: false };
}
