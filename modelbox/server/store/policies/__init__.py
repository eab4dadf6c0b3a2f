"""Policies in the store: their definitions, the record of each decision (committed with its
effects, at most once), and the leases that keep two runs of one retention policy apart."""

from modelbox.server.store.policies.actions import PolicyActions
from modelbox.server.store.policies.evaluations import (
    PolicyEvaluationRecord,
    PolicyEvaluations,
    WebhookDeliveryRecord,
    evaluation_record,
)
from modelbox.server.store.policies.leases import PolicyLeases
from modelbox.server.store.policies.repository import (
    ConditionRecord,
    Policies,
    PolicyRecord,
    policy_record,
)

__all__ = [
    "ConditionRecord",
    "Policies",
    "PolicyActions",
    "PolicyEvaluationRecord",
    "PolicyEvaluations",
    "PolicyLeases",
    "PolicyRecord",
    "WebhookDeliveryRecord",
    "evaluation_record",
    "policy_record",
]
