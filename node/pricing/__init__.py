"""Pricing: the canonical plan of pricing.md, the engine, and the seeds' documents mapped to it.

Embed the engine with `quote(plan, usage)` and `settle(plan, usage, reserved=...)`; build a plan
from a seller's document with `from_assmbl`, `from_seren` or `from_agentic` (and back with the
`to_*` inverses).
"""

from node.pricing.agentic import AgenticPricing, from_agentic, to_agentic
from node.pricing.assmbl import BillingPricingPayload, from_assmbl, to_assmbl
from node.pricing.engine import Charge, LineCharge, PricingError, quote, settle, to_smallest_unit
from node.pricing.mapping import NotRepresentable
from node.pricing.plan import LineItem, PricingPlan, Subscription, Tier, Transform
from node.pricing.seren import PricingConfigResponse, UpdatePricingRequest, from_seren, to_seren

__all__ = [
    "AgenticPricing",
    "BillingPricingPayload",
    "Charge",
    "LineCharge",
    "LineItem",
    "NotRepresentable",
    "PricingConfigResponse",
    "PricingError",
    "PricingPlan",
    "Subscription",
    "Tier",
    "Transform",
    "UpdatePricingRequest",
    "from_agentic",
    "from_assmbl",
    "from_seren",
    "quote",
    "settle",
    "to_agentic",
    "to_assmbl",
    "to_seren",
    "to_smallest_unit",
]
