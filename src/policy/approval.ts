export interface ApprovalInput {
  tierApproval: 'always' | 'high_risk' | 'never';
  highRiskScopes: readonly string[];
  scopes: readonly string[];
}

export type ApprovalDecision = { needed: false } | { needed: true; reason: 'tier_always' | 'high_risk_scope'; scopes: string[] };

/** SPEC section 6 "When": tier `always`, or tier `high_risk` and an issued scope that is high-risk. */
export function approvalNeeded(input: ApprovalInput): ApprovalDecision {
  if (input.tierApproval === 'always') return { needed: true, reason: 'tier_always', scopes: [...input.scopes] };
  if (input.tierApproval === 'high_risk') {
    const risky = input.scopes.filter((s) => input.highRiskScopes.includes(s));
    if (risky.length > 0) return { needed: true, reason: 'high_risk_scope', scopes: risky };
  }
  return { needed: false };
}
