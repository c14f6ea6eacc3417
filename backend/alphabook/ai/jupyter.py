"""jupyter-ai's model provider ``alphabook``: ``%%ai alphabook:alphabook`` in a notebook asks the person's
own assistant chain (their providers, metered and limited, or the offline one) through the API's
OpenAI-compatible endpoint (``/api/ai/v1``).

jupyter-ai-magics finds providers through the ``jupyter_ai.model_providers`` entry point; this one is
LangChain's ``ChatOpenAI`` (what jupyter-ai's "OpenAI (general interface)" provider is) aimed at
the API the notebook SDK uses (``ab.connect(...)``, else ``$ALPHABOOK_API_URL``) with the SDK's credential (the
server's hub token, ``JUPYTERHUB_API_TOKEN``, in the hub) as its key. So nothing is configured in a person's
server beyond what the hub already sets, and their ``OPENAI_API_KEY`` stays theirs. Model ids are the
person's route names: ``alphabook`` (the whole chain), a provider's name, ``managed`` or ``offline``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from jupyter_ai_magics.base_provider import BaseProvider
from langchain_openai import ChatOpenAI

from alphabook.sdk.client import current

__all__ = ["AlphabookProvider"]


class AlphabookProvider(BaseProvider, ChatOpenAI):
    id: ClassVar[str] = "alphabook"
    name = "alphabook"  # type: ignore[misc]  # BaseProvider: a class constant; ChatOpenAI: a field
    models: ClassVar[list[str]] = ["*"]
    model_id_key: ClassVar[str] = "model_name"
    model_id_label: ClassVar[str] = "Provider (alphabook: all of yours, in order)"
    pypi_package_deps: ClassVar[list[str]] = ["langchain_openai"]
    auth_strategy: ClassVar[None] = None  # the hub token is in every person's server already
    registry: ClassVar[bool] = True
    help: ClassVar[str] = ("Your alphabook AI providers (set them on the assistant page): 'alphabook' tries them in "
                           "order; or name one of them, 'managed' or 'offline'.")

    def __init__(self, **kwargs: Any) -> None:
        connection = current()  # ab.connect(...)'s, else the hub's environment; ConfigurationError if neither
        kwargs.setdefault("openai_api_base", f"{connection.url}/ai/v1")
        kwargs.setdefault("openai_api_key", connection.token)
        kwargs.setdefault("max_retries", 0)  # the API retries and falls back already
        super().__init__(**kwargs)  # type: ignore[no-untyped-call]
