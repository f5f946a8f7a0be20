"""The model router: per-conversation model choice, fallback chain, circuit breakers.

`ModelRouter.generate` tries the chosen model, then `settings.fallback_chain`,
then the extractive answerer (always present, always last; left out when only a
model that reads the sources may answer, `readers_only`). Each try runs
under `settings.model_timeout_s` (for the first delta and between deltas)
and behind the provider's circuit breaker; a language model's empty reply counts
as a failure. A fallback is explained in
`RoutedAnswer.notices` ("Bedrock timed out; answered by the CML model.").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from bot.config import Settings
from rag.breaker import CircuitBreaker
from rag.generation import GenerationRequest, Provider, ProviderError, close_quietly
from rag.providers.bedrock import BedrockProvider
from rag.providers.caii import CAIIProvider
from rag.providers.cml_models import CMLModelProvider, model_url

log = logging.getLogger(__name__)

EXTRACTIVE = "extractive"
# What users may type for a provider; keys are lower-case.
ALIASES = {
    "offline": EXTRACTIVE,
    "local": EXTRACTIVE,
    "none": EXTRACTIVE,
    "extract": EXTRACTIVE,
    "aws": "bedrock",
    "cml-model": "cml",
    "cml_model": "cml",
    "modelservice": "cml",
    "ai-inference": "caii",
    "cloudera-ai-inference": "caii",
    "inference": "caii",
}
DISPLAY = {
    "bedrock": "Bedrock",
    "cml": "the CML model",
    "caii": "the Cloudera AI Inference model",
    EXTRACTIVE: "the offline answerer",
}
KIND_DISPLAY = {"bedrock": "Bedrock", "cml": "CML", "caii": "Cloudera AI Inference"}
NOTICES = {
    "answered_by": "answered by {who}.",
    "unknown_model": "Unknown model {name!r}",
    "not_configured": "is not configured",
    "cooling_down": "is paused after repeated failures",
    "no_docs": "Answered by the model alone, without the documentation.",
    "nobody": "no model could answer.",
}
FAILURE_THRESHOLD = 3
COOLDOWN_S = 30.0
# A streamed answer may run this many timeouts in total before it is cut.
TOTAL_TIMEOUT_FACTOR = 5

DeltaCallback = Callable[[str], Awaitable[None]]


@dataclass
class RoutedAnswer:
    text: str  # the full generated text (raw, before citation post-processing)
    provider: str  # name of the provider that answered, e.g. "bedrock", "extractive"
    label: str  # its display label for the footer
    notices: list[str] = field(default_factory=list)


def display_name(name: str) -> str:
    """How a provider is named in a notice: "Bedrock", "the CML model", "Bedrock (claude)"."""
    if name in DISPLAY:
        return DISPLAY[name]
    kind, _, alias = name.partition(":")
    return f"{KIND_DISPLAY.get(kind, kind)} ({alias})" if alias else name


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


class ModelRouter:
    def __init__(
        self,
        settings: Settings,
        extractive: Provider,
        providers: dict[str, Provider] | None = None,
        clock: Callable[[], float] = time.monotonic,
        *,
        failure_threshold: int = FAILURE_THRESHOLD,
        cooldown_s: float = COOLDOWN_S,
    ) -> None:
        """Providers from `settings` (lazy: no client is created here), then `providers` on top.

        `providers` lets tests and callers inject stand-ins by name.
        """
        self.settings = settings
        self.timeout_s = settings.model_timeout_s
        self._providers: dict[str, Provider] = dict(self._from_settings(settings))
        self._aliases: dict[str, str] = {}
        for alias, spec in settings.named_models.items():
            canonical = f"{spec.split(':', 1)[0].strip().lower()}:{alias.lower()}"
            if canonical in self._providers:
                self._aliases[alias.lower()] = canonical
        for name, provider in (providers or {}).items():
            self._providers[name.lower()] = provider
        self._providers.pop(EXTRACTIVE, None)
        self._providers[EXTRACTIVE] = extractive  # always present, always last
        self._breakers = {
            name: CircuitBreaker(failure_threshold, cooldown_s, clock)
            for name in self._providers
            if name != EXTRACTIVE
        }

    @staticmethod
    def _from_settings(settings: Settings) -> dict[str, Provider]:
        timeout = settings.model_timeout_s
        out: dict[str, Provider] = {
            "bedrock": BedrockProvider(
                settings.bedrock_model_id, region=settings.aws_region, timeout_s=timeout
            )
        }
        url = model_url(settings.cml_model_url, settings.cml_domain)
        if url and (settings.cml_model_access_key or "accessKey=" in url):
            out["cml"] = CMLModelProvider(url, settings.cml_model_access_key, timeout_s=timeout)
        if settings.caii_url and settings.caii_model:
            out["caii"] = CAIIProvider(
                settings.caii_url, settings.caii_model, settings.caii_token, timeout_s=timeout
            )
        for alias, spec in settings.named_models.items():
            kind, _, model_id = (part.strip() for part in spec.partition(":"))
            kind = kind.lower()
            name = f"{kind}:{alias.lower()}"
            if kind == "bedrock" and model_id:
                out[name] = BedrockProvider(
                    model_id, region=settings.aws_region, timeout_s=timeout, name=name
                )
            elif kind in ("cml", "caii") and model_id and settings.caii_url:
                # Named CML models are Cloudera AI Inference endpoints' model ids.
                out[name] = CAIIProvider(
                    settings.caii_url,
                    model_id,
                    settings.caii_token,
                    timeout_s=timeout,
                    name=name,
                    label=f"Cloudera AI Inference ({model_id})",
                )
            else:
                log.warning("named model %r (%s) cannot be built from the settings", alias, kind)
        return out

    # -- names ----------------------------------------------------------------------------------

    def names(self) -> list[str]:
        """Selectable model names, extractive last."""
        return [n for n in self._providers if n != EXTRACTIVE] + [EXTRACTIVE]

    def provider(self, name: str) -> Provider | None:
        return self._providers.get(name)

    def resolve(self, name: str) -> str | None:
        """Normalise a typed name: case, aliases ("offline"), named models ("claude"); None if unknown."""
        key = " ".join(name.split()).lower()
        if not key:
            return None
        key = ALIASES.get(key, key)
        if key in self._providers:
            return key
        if key in self._aliases:
            return self._aliases[key]
        if key == "cml" and "caii" in self._providers:
            return "caii"  # only Cloudera AI Inference is configured: it is "the CML model"
        return None

    def reads(self, model: str) -> bool:
        """Whether `model` (as chosen, before any fallback) reads the sources: a language
        model that can reply NOT_IN_DOCS, not the offline extractive answerer."""
        return self._first(model) != EXTRACTIVE

    def condenser(self, model: str) -> Provider | None:
        """The language model that may rewrite a follow-up for `model` (rag.condense): the
        one tried first, if it reads the sources and its breaker is closed. A model cooling
        down or on probation is not asked, so a failing one does not delay every follow-up;
        the answer itself probes it."""
        if not self.reads(model):
            return None
        name = self._first(model)
        breaker = self._breakers.get(name)
        if breaker is not None and breaker.state != "closed":
            return None
        return self._providers.get(name)

    def _first(self, model: str) -> str:
        """The provider tried first for `model`: itself, else the default model."""
        return self.resolve(model) or self.resolve(self.settings.default_model) or EXTRACTIVE

    def chain(self, model: str, *, readers_only: bool = False) -> list[str]:
        """The providers `generate(model, ...)` tries, in order; without the extractive
        answerer when `readers_only`."""
        order = [self._first(model)]
        for item in self.settings.fallback_chain:
            resolved = self.resolve(item)
            if resolved is None:
                log.warning("DOCBOT_FALLBACK names an unknown model %r", item)
            elif resolved not in order:
                order.append(resolved)
        if EXTRACTIVE in order:
            order = order[: order.index(EXTRACTIVE)]
        return order if readers_only else [*order, EXTRACTIVE]

    # -- health ---------------------------------------------------------------------------------

    def _configured(self, name: str) -> bool:
        return name == EXTRACTIVE or bool(getattr(self._providers[name], "configured", True))

    def health(self) -> dict[str, str]:
        """{"bedrock": "ok" | "open (cooling down 25s)" | "not configured", ...}."""
        out: dict[str, str] = {}
        for name in self.names():
            if not self._configured(name):
                out[name] = "not configured"
            elif name == EXTRACTIVE:
                out[name] = "ok"
            else:
                out[name] = self._breakers[name].describe()
        return out

    def label(self, name: str) -> str:
        provider = self._providers.get(name)
        return getattr(provider, "label", name) if provider else name

    # -- answering ------------------------------------------------------------------------------

    async def generate(
        self,
        model: str,
        request: GenerationRequest,
        on_delta: DeltaCallback | None = None,
        on_restart: Callable[[], Awaitable[None]] | None = None,
        *,
        readers_only: bool = False,
    ) -> RoutedAnswer:
        """Answer with `model`, falling back along the chain; never raises ProviderError.

        `on_delta` receives each text delta. When a provider fails after it
        has streamed some text, `on_restart` (if given) is awaited before the
        next provider starts, so the caller can clear its partial message.
        With `readers_only` the extractive answerer is not tried: when no
        language model answers, the result is provider "none".
        """
        failures: list[str] = []
        if self.resolve(model) is None and model:
            failures.append(NOTICES["unknown_model"].format(name=model))
        notices: list[str] = []
        if not request.use_docs:
            notices.append(NOTICES["no_docs"])
        for name in self.chain(model, readers_only=readers_only):
            provider = self._providers[name]
            breaker = self._breakers.get(name)
            # Bedrock's check may read the AWS config files: off the event loop
            if name != EXTRACTIVE and not await asyncio.to_thread(self._configured, name):
                failures.append(f"{display_name(name)} {NOTICES['not_configured']}")
                continue
            if breaker is not None and not breaker.allow():
                failures.append(f"{display_name(name)} {NOTICES['cooling_down']}")
                continue
            emitted = False

            async def forward(delta: str) -> None:
                nonlocal emitted
                emitted = True
                if on_delta is not None:
                    await on_delta(delta)

            try:
                text = await self._run(provider, request, forward)
                if name != EXTRACTIVE and not text.strip():
                    # A language model that answers nothing (a filtered or cut-off reply) has
                    # failed: the chain may still answer, where finalize could only say
                    # "no answer". The extractive answerer returns "" only without sources.
                    raise ProviderError(name, "returned an empty answer")
            except ProviderError as exc:
                reason = exc.reason
            except asyncio.TimeoutError:
                reason = "timed out"
            except asyncio.CancelledError:
                if breaker is not None:
                    breaker.release_probe()
                raise
            except Exception as exc:  # a provider bug must not lose the answer
                log.warning("provider %s failed: %s", name, type(exc).__name__)
                reason = "failed"
            else:
                if breaker is not None:
                    breaker.record_success()
                if failures:
                    who = display_name(name)
                    notices.insert(0, self._fallback_notice(failures, who))
                return RoutedAnswer(text, name, self.label(name), notices)
            log.info("provider %s: %s", name, reason)
            if breaker is not None:
                breaker.record_failure()
            failures.append(f"{display_name(name)} {reason}")
            if emitted and on_restart is not None:
                await on_restart()
        notices.insert(0, self._fallback_notice(failures, None))
        return RoutedAnswer("", "none", "none", notices)

    @staticmethod
    def _fallback_notice(failures: list[str], who: str | None) -> str:
        tail = NOTICES["answered_by"].format(who=who) if who else NOTICES["nobody"]
        return _sentence("; ".join([*failures, tail]))

    async def _run(
        self, provider: Provider, request: GenerationRequest, on_delta: DeltaCallback
    ) -> str:
        """Drain the provider's deltas under the timeouts; returns the whole text."""
        loop = asyncio.get_running_loop()
        hard_deadline = loop.time() + self.timeout_s * TOTAL_TIMEOUT_FACTOR
        stream: AsyncIterator[str] = provider.generate(request).__aiter__()
        parts: list[str] = []
        try:
            while True:
                wait = min(self.timeout_s, hard_deadline - loop.time())
                if wait <= 0:
                    raise ProviderError(getattr(provider, "name", "model"), "timed out")
                try:
                    delta = await asyncio.wait_for(stream.__anext__(), wait)
                except StopAsyncIteration:
                    break
                if delta:
                    parts.append(delta)
                    await on_delta(delta)
        finally:
            await close_quietly(stream)
        return "".join(parts)

    async def aclose(self) -> None:
        """Close the HTTP sessions of providers that hold one."""
        for provider in self._providers.values():
            await close_quietly(provider)
