// Label selectors as controllers evaluate them: a LabelSelector (matchLabels + matchExpressions,
// as Deployments, ReplicaSets and StatefulSets carry) or a plain map (as Services carry). An empty
// LabelSelector selects nothing here, which is what workload controllers want (the API server
// rejects one anyway). Used by every controller here.
import type { V1LabelSelector } from '@kubernetes/client-node';

type Labels = Record<string, string> | undefined;

export function matchesLabelSelector(selector: V1LabelSelector | undefined, labels: Labels): boolean {
  if (!selector) return false;
  const matchLabels = selector.matchLabels ?? {};
  const expressions = selector.matchExpressions ?? [];
  if (Object.keys(matchLabels).length === 0 && expressions.length === 0) return false;
  const have = labels ?? {};
  for (const [key, value] of Object.entries(matchLabels)) {
    if (have[key] !== value) return false;
  }
  for (const expression of expressions) {
    const value = have[expression.key];
    const values = expression.values ?? [];
    switch (expression.operator) {
      case 'In':
        if (value === undefined || !values.includes(value)) return false;
        break;
      case 'NotIn':
        if (value !== undefined && values.includes(value)) return false;
        break;
      case 'Exists':
        if (value === undefined) return false;
        break;
      case 'DoesNotExist':
        if (value !== undefined) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

/** A Service's selector: every key must match; an empty map selects nothing. */
export function matchesMapSelector(selector: Record<string, string> | undefined, labels: Labels): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  const have = labels ?? {};
  return Object.entries(selector).every(([key, value]) => have[key] === value);
}
