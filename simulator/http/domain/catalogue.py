"""Static documents of the configuration families (seed 004 tags System Config, Config
Profiles, Bots, Providers, MCP, Subagents, T2I): the default system configuration and the schema
derived from it, the bot-type catalogue, the provider schema and model catalogue, the built-in
tools, the ModelScope MCP catalogue and the built-in text-to-image template. Data only, no I/O:
the same document on every run."""

from __future__ import annotations

import copy

CAPABILITIES = ("chat", "agent", "stt", "tts", "embedding", "rerank")
# -- system configuration ------------------------------------------------------------------
DEFAULT_SYSTEM_CONFIG: dict = {
    "config_version": 2,
    "timezone": "Asia/Shanghai",
    "log_level": "INFO",
    "callback_api_base": "",
    "wake_prefix": ["/"],
    "admins_id": ["astrbot"],
    "http_proxy": "",
    "no_proxy": ["localhost", "127.0.0.1", "::1"],
    "pypi_index_url": "https://pypi.org/simple",
    "platform_settings": {
        "unique_session": False,
        "reply_prefix": "",
        "forward_threshold": 1500,
        "enable_id_white_list": True,
        "id_whitelist": [],
        "rate_limit": {"time": 60, "count": 30, "strategy": "stall"},
        "segmented_reply": {"enable": False, "interval_method": "random", "interval": "1.5,3.5"},
    },
    "provider_settings": {
        "enable": True,
        "default_provider_id": "",
        "default_personality": "default",
        "wake_prefix": "",
        "web_search": False,
        "identifier": False,
        "datetime_system_prompt": True,
        "streaming_response": False,
        "max_context_length": -1,
    },
    "provider_stt_settings": {"enable": False, "provider_id": ""},
    "provider_tts_settings": {"enable": False, "provider_id": ""},
    "content_safety": {"internal_keywords": {"enable": True, "extra_keywords": []}},
    "t2i": False,
    "t2i_word_threshold": 150,
    "t2i_strategy": "remote",
    "plugin_set": ["*"],
    "kb_names": [],
}


DESCRIPTIONS = {
    "config_version": "Version of this configuration layout",
    "timezone": "IANA time zone used for schedules and the datetime system prompt",
    "log_level": "Logging level: DEBUG, INFO, WARNING, ERROR",
    "callback_api_base": "Public base URL used in callbacks and file links",
    "wake_prefix": "Prefixes that wake the bot in group chats",
    "admins_id": "User ids with administrator rights",
    "http_proxy": "Proxy for outgoing HTTP requests",
    "no_proxy": "Hosts reached without the proxy",
    "pypi_index_url": "Package index used for plugin dependencies",
    "platform_settings": "Message platform behaviour",
    "provider_settings": "Chat model behaviour",
    "provider_stt_settings": "Speech-to-text",
    "provider_tts_settings": "Text-to-speech",
    "content_safety": "Content moderation",
    "t2i": "Render long replies as images",
    "t2i_word_threshold": "Reply length above which replies are rendered as images",
    "t2i_strategy": "Where images are rendered: remote or local",
    "plugin_set": "Enabled plugins ('*' for all)",
    "kb_names": "Knowledge bases used by default",
}


CHOICES = {"log_level": ["DEBUG", "INFO", "WARNING", "ERROR"], "t2i_strategy": ["remote", "local"]}


def json_type(value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def schema_of(value, key: str | None = None) -> dict:
    """A JSON schema describing a default document (types, defaults, descriptions)."""
    node: dict = {"type": json_type(value)}
    if key in DESCRIPTIONS:
        node["description"] = DESCRIPTIONS[key]
    if key in CHOICES:
        node["enum"] = CHOICES[key]
    if isinstance(value, dict):
        node["properties"] = {k: schema_of(v, k) for k, v in value.items()}
        node["additionalProperties"] = True
    else:
        node["default"] = copy.deepcopy(value)
    return node


SYSTEM_CONFIG_SCHEMA = schema_of(DEFAULT_SYSTEM_CONFIG)
# -- config profiles -----------------------------------------------------------------------
CONFIG_PROFILE_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "description": "Profile id; 'default' is the built-in profile"},
        "name": {"type": "string", "description": "Display name"},
        "config": {
            "type": "object", "additionalProperties": True,
            "description": "Overrides of the system configuration for the bound sessions",
            "properties": {key: SYSTEM_CONFIG_SCHEMA["properties"][key] for key in (
                "provider_settings", "platform_settings", "provider_stt_settings",
                "provider_tts_settings", "content_safety", "t2i", "plugin_set", "kb_names")},
        },
    },
    "required": ["name"],
}


def _bot_type(kind: str, name: str, required: dict, optional: dict | None = None,
              registration: str | None = None) -> dict:
    fields = {**required, **(optional or {})}
    return {
        "type": kind, "name": name, "registration": registration,
        "config_schema": {
            "type": "object", "required": list(required),
            "properties": {k: {"type": json_type(v), "default": v} for k, v in fields.items()},
            "additionalProperties": True},
        "default_config": dict(fields),
    }


BOT_TYPES = [
    _bot_type("aiocqhttp", "OneBot v11 (QQ)", {"ws_reverse_host": "0.0.0.0",
                                               "ws_reverse_port": 6199},
              {"ws_reverse_token": ""}),
    _bot_type("qq_official", "QQ Official Bot", {"appid": "", "secret": ""},
              {"enable_group_c2c": True}, registration="qrcode"),
    _bot_type("telegram", "Telegram", {"telegram_token": ""},
              {"telegram_api_base_url": "https://api.telegram.org/bot"}),
    _bot_type("discord", "Discord", {"discord_token": ""}, {"discord_proxy": ""}),
    _bot_type("lark", "Lark / Feishu", {"app_id": "", "app_secret": ""},
              {"domain": "https://open.feishu.cn"}, registration="device_code"),
    _bot_type("dingtalk", "DingTalk", {"client_id": "", "client_secret": ""}),
    _bot_type("wecom", "WeCom", {"corpid": "", "secret": "", "token": "",
                                 "encoding_aes_key": ""}),
    _bot_type("weixin_official_account", "WeChat Official Account",
              {"appid": "", "secret": "", "token": "", "encoding_aes_key": ""}),
    _bot_type("slack", "Slack", {"bot_token": "", "app_token": ""}),
    _bot_type("webchat", "WebChat (built-in)", {}),
]


BOT_TYPES_BY_NAME = {item["type"]: item for item in BOT_TYPES}
# -- providers -----------------------------------------------------------------------------
# source type keyword -> models (id, capability); a source's type is its config's
# `type`, `provider` or `provider_type`, matched by keyword
MODEL_CATALOGUE: dict[str, list[tuple[str, str]]] = {
    "openai": [("gpt-4o-mini", "chat"), ("gpt-4o", "chat"), ("o4-mini", "agent"),
               ("text-embedding-3-small", "embedding"), ("text-embedding-3-large", "embedding"),
               ("whisper-1", "stt"), ("tts-1", "tts")],
    "anthropic": [("claude-3-5-haiku-latest", "chat"), ("claude-sonnet-4-0", "chat"),
                  ("claude-sonnet-4-0", "agent")],
    "gemini": [("gemini-2.5-flash", "chat"), ("gemini-2.5-pro", "chat"),
               ("text-embedding-004", "embedding")],
    "deepseek": [("deepseek-chat", "chat"), ("deepseek-reasoner", "agent")],
    "ollama": [("llama3.1:8b", "chat"), ("qwen2.5:7b", "chat"), ("nomic-embed-text", "embedding")],
    "dashscope": [("qwen-plus", "chat"), ("qwen-max", "chat"), ("text-embedding-v3", "embedding"),
                  ("gte-rerank", "rerank"), ("paraformer-realtime-v2", "stt"),
                  ("cosyvoice-v1", "tts")],
    "siliconflow": [("Qwen/Qwen2.5-7B-Instruct", "chat"), ("BAAI/bge-m3", "embedding"),
                    ("BAAI/bge-reranker-v2-m3", "rerank")],
}


GENERIC_MODELS = [("sim-chat", "chat"), ("sim-embedding", "embedding")]
LOCAL_SOURCES = ("ollama",)  # no API key needed
EMBEDDING_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072,
                        "text-embedding-004": 768, "nomic-embed-text": 768,
                        "text-embedding-v3": 1024, "BAAI/bge-m3": 1024, "sim-embedding": 1024}


DEFAULT_EMBEDDING_DIMENSION = 1024
PROVIDER_SCHEMA = {
    "capabilities": list(CAPABILITIES),
    "source_types": sorted(MODEL_CATALOGUE),
    "source_schema": {
        "type": "object", "required": ["type"],
        "properties": {"type": {"type": "string", "enum": sorted(MODEL_CATALOGUE)},
                       "api_base": {"type": "string"}, "key": {"type": "array",
                                                               "items": {"type": "string"}},
                       "timeout": {"type": "integer", "default": 120}},
        "additionalProperties": True},
    "provider_schema": {
        "type": "object", "required": ["config"],
        "properties": {"id": {"type": "string"}, "provider_source_id": {"type": "string"},
                       "capability": {"type": "string", "enum": list(CAPABILITIES)},
                       "enabled": {"type": "boolean", "default": True},
                       "config": {"type": "object", "additionalProperties": True,
                                  "properties": {"model": {"type": "string"},
                                                 "embedding_dimensions": {"type": "integer"}}}},
        "additionalProperties": False},
}


# -- tools, MCP ----------------------------------------------------------------------------
BUILTIN_TOOLS = [
    {"name": "web_search", "description": "Search the web", "source": "builtin"},
    {"name": "fetch_url", "description": "Fetch a web page as text", "source": "builtin"},
    {"name": "astr_kb_search", "description": "Search the knowledge bases", "source": "builtin"},
    {"name": "send_message_to_user", "description": "Send a message to the user",
     "source": "builtin"},
    {"name": "create_cron_job", "description": "Schedule a future task", "source": "builtin"},
]


MODELSCOPE_SERVERS = [
    ("modelscope-fetch", "Fetch web pages"),
    ("modelscope-time", "Current time and time zones"),
    ("modelscope-amap-maps", "Maps and routes"),
]


# -- text to image -------------------------------------------------------------------------
DEFAULT_T2I_TEMPLATE = "base"
BASE_T2I_TEMPLATE = """<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>AstrBot</title>
<style>body { font-family: sans-serif; padding: 24px; } .content { white-space: pre-wrap; }</style>
</head>
<body><div class="content">{{ text | safe }}</div><footer>{{ version }}</footer></body>
</html>
"""


def mcp_tool_names(server_name: str) -> list[str]:
    """The tools a (simulated) MCP server offers: one to three, fixed by its name."""
    slug = "".join(c if c.isalnum() else "_" for c in server_name.lower()).strip("_") or "mcp"
    count = 1 + sum(server_name.encode()) % 3
    return [f"{slug}_{verb}" for verb in ("search", "get", "list")[:count]]
