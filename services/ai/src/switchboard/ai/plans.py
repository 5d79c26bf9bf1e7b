"""What the platform lets a tenant's businesses spend, from the control plane (``control.config``):
the models the operator offers with their prices (``model/<name>``) and each tenant's plan
(``tenant/<id>``: the models its businesses may use, the model spend per UTC day the platform
pays for it). Pure reads of the followed view; no I/O.

A tenant lowers its spend with each business's own limit; it cannot raise the plan's: the
plan's daily cap applies whatever the business says (its ``0`` is "no limit of its own", not
"unlimited").
"""

from switchboard.ai.owners import ConfigView
from switchboard.ai.settings import Price
from switchboard.common.config import ModelPrice, PlanLimits, Tenant


def plan_of(config: ConfigView, tenant: str) -> PlanLimits:
    """The tenant's plan (the default plan for a tenant the control plane does not know)."""
    found = config.get(f"tenant/{tenant}")
    return found.limits if isinstance(found, Tenant) else PlanLimits()


def price_of(config: ConfigView, model: str) -> Price | None:
    """The operator's price of ``model``; None: the platform does not offer it."""
    offered = config.get(f"model/{model}")
    if not isinstance(offered, ModelPrice):
        return None
    return Price(
        input_per_1k=float(offered.input_per_1k_usd),
        output_per_1k=float(offered.output_per_1k_usd),
    )


def allowed_models(config: ConfigView, tenant: str, default_model: str) -> tuple[str, ...]:
    """The models the tenant's plan allows (its list, or only the platform's default)."""
    return plan_of(config, tenant).allowed_models or (default_model,)


def model_problem(config: ConfigView, tenant: str, model: str, default_model: str) -> str | None:
    """Why a business of ``tenant`` may not use ``model`` (None: it may)."""
    if price_of(config, model) is None:
        return f"model {model!r} is not offered by the platform"
    allowed = allowed_models(config, tenant, default_model)
    if model not in allowed:
        return f"model {model!r} is not in your plan (allowed: {', '.join(allowed)})"
    return None


def daily_cap_usd(config: ConfigView, tenant: str) -> float:
    """The model spend per UTC day the tenant's plan allows, over all its businesses."""
    return float(plan_of(config, tenant).spend_per_day_usd)
