"""MIP-003 agent kit: the router an agent mounts, its job store and payment poller, and the
demo agent `paynode up` serves."""

from node.jobs.api import agent_router
from node.jobs.schemas import InputField
from node.jobs.service import AgentConfig, AgentKit, AwaitingInput
from node.jobs.store import Job

__all__ = ["AgentConfig", "AgentKit", "AwaitingInput", "InputField", "Job", "agent_router"]
