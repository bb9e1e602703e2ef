"""The deterministic world of the plugin families: the plugins a fresh simulator has installed
(a reserved built-in one, `astrbot_plugin_weather` with an update, config, a page, extension
routes and a tool, `astrbot_plugin_fun` whose `wt` command conflicts with a weather alias), one
plugin that failed to load, the built-in LLM tools and the marketplace catalogue."""

from __future__ import annotations

PLUGIN_DEFAULTS = {
    "display_name": "", "author": "unknown", "desc": "", "version": "v0.0.1",
    "online_version": None, "repo": None, "reserved": False, "activated": True,
    "astrbot_version": "", "support_platforms": [], "install_method": "local", "source": None,
    "installed_at": "", "updated_at": None, "reload_count": 0, "last_reloaded_at": None,
    "config_schema": {}, "commands": [], "tools": [], "pages": [], "routes": [],
    "readme": "", "changelog": None,
}


def new_plugin(**fields) -> dict:
    plugin = {**PLUGIN_DEFAULTS, **fields}
    for key in ("support_platforms", "config_schema", "commands", "tools", "pages", "routes"):
        plugin[key] = plugin[key] if plugin[key] is not None else type(PLUGIN_DEFAULTS[key])()
    plugin["display_name"] = plugin["display_name"] or plugin["name"]
    return plugin


def command(plugin: str, name: str, description: str, aliases: tuple = (),
            permission: str = "everyone", module: str | None = None) -> dict:
    module = module or f"data.plugins.{plugin}.main"
    return {"handler_full_name": f"{module}.{name}", "handler_name": name, "plugin": plugin,
            "module_path": module, "description": description, "type": "command",
            "original_command": name, "effective_command": name, "aliases": list(aliases),
            "permission": permission, "enabled": True}


def tool(name: str, description: str, properties: dict, origin: str, origin_name: str,
         permission: str = "member") -> dict:
    return {"name": name, "description": description,
            "parameters": {"type": "object", "properties": properties,
                           "required": sorted(properties)},
            "origin": origin, "origin_name": origin_name, "enabled": True,
            "permission": permission}


WEATHER, FUN, CORE = "astrbot_plugin_weather", "astrbot_plugin_fun", "astrbot"


CORE_MODULE = "astrbot.builtin_stars.astrbot.main"
CITY = {"city": {"type": "string", "description": "City name"}}
WEATHER_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Weather dashboard</title>
  <link rel="stylesheet" href="css/style.css">
  <script src="/api/v1/plugins/page-bridge-sdk.js"></script>
</head>
<body>
  <h1>Weather dashboard</h1>
  <img src="img/logo.svg" alt="logo" width="48">
  <div id="forecast">Loading...</div>
  <script src="app.js"></script>
</body>
</html>
"""


WEATHER_JS = """// Weather dashboard: reads the forecast through the plugin's extension route.
AstrBotPage.ready().then(async () => {
  const data = await AstrBotPage.api("GET", "astrbot_plugin_weather/forecast/Beijing");
  document.getElementById("forecast").textContent = JSON.stringify(data.days);
});
"""


WEATHER_CSS = "body { font-family: sans-serif; margin: 2rem; }\nh1 { color: #3b82f6; }\n"
WEATHER_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10">'
               '<circle cx="5" cy="5" r="4" fill="#facc15"/></svg>\n')


SEED_PLUGINS = [
    {"plugin": {
        "name": CORE, "display_name": "AstrBot", "author": "AstrBotDevs", "reserved": True,
        "desc": "Built-in commands of AstrBot.", "version": "v4.26.2",
        "online_version": "v4.26.2", "repo": "https://github.com/AstrBotDevs/AstrBot",
        "install_method": "builtin",
        "commands": [
            command(CORE, "help", "Show the available commands", module=CORE_MODULE),
            command(CORE, "reset", "Reset the current conversation", module=CORE_MODULE),
            command(CORE, "sid", "Show the session id", module=CORE_MODULE),
            command(CORE, "op", "Grant admin rights to a user", permission="admin",
                    module=CORE_MODULE)],
        "readme": "# AstrBot\n\nBuilt-in commands: /help, /reset, /sid, /op.\n"}},
    {"plugin": {
        "name": FUN, "display_name": "Fun", "author": "astrbot-sim", "version": "v0.4.1",
        "online_version": "v0.4.1", "repo": f"https://github.com/astrbot-sim/{FUN}",
        "desc": "Dice and word games.", "astrbot_version": ">=4.0.0",
        "support_platforms": ["aiocqhttp", "webchat"], "install_method": "market",
        "config_schema": {
            "sides": {"type": "int", "description": "Sides of the dice", "default": 6},
            "announce": {"type": "bool", "description": "Announce results", "default": True}},
        "commands": [command(FUN, "wt", "Word tally of the conversation"),
                     command(FUN, "dice", "Roll a dice", aliases=("roll",))],
        "tools": [tool("roll_dice", "Roll a dice and return the result",
                       {"sides": {"type": "integer"}}, "plugin", FUN)],
        "routes": [{"route": f"/{FUN}/stats", "methods": ["GET"], "action": "stats"}],
        "readme": "# Fun\n\n`/dice` rolls a dice, `/wt` counts words.\n",
        "changelog": "# Changelog\n\n## v0.4.1\n- Fix /dice with 2 sides\n"}},
    {"plugin": {
        "name": WEATHER, "display_name": "Weather", "author": "astrbot-sim",
        "desc": "Current weather and forecasts for any city.", "version": "v1.2.0",
        "online_version": "v1.3.0", "repo": f"https://github.com/astrbot-sim/{WEATHER}",
        "astrbot_version": ">=4.0.0", "install_method": "market",
        "support_platforms": ["aiocqhttp", "telegram", "webchat"],
        "config_schema": {
            "api_key": {"type": "string", "description": "Weather API key", "default": ""},
            "default_city": {"type": "string", "description": "City when none is given",
                             "default": "Beijing"},
            "units": {"type": "string", "description": "Units", "default": "metric",
                      "options": ["metric", "imperial"]},
            "forecast_days": {"type": "int", "description": "Days in a forecast",
                              "default": 3},
            "enable_alerts": {"type": "bool", "description": "Push severe weather alerts",
                              "default": False},
            "icon_pack": {"type": "file", "description": "Custom weather icons",
                          "default": [], "file_types": ["png", "svg", "zip"]}},
        "commands": [command(WEATHER, "weather", "Current weather of a city",
                             aliases=("wt", "天气")),
                     command(WEATHER, "forecast", "Forecast for the next days")],
        "tools": [tool("get_weather", "Get the current weather of a city", CITY, "plugin",
                       WEATHER)],
        "pages": [{"name": "dashboard", "title": "Weather dashboard",
                   "description": "Forecasts at a glance"}],
        "routes": [{"route": f"/{WEATHER}/forecast/<city>", "methods": ["GET"],
                    "action": "forecast"},
                   {"route": f"/{WEATHER}/favorites",
                    "methods": ["GET", "POST", "PUT", "PATCH", "DELETE"], "action": "kv",
                    "key": "favorites"}],
        "readme": "# Weather\n\n`/weather <city>` and `/forecast <city>`.\n",
        "changelog": "# Changelog\n\n## v1.3.0\n- Hourly forecasts\n\n"
                     "## v1.2.0\n- Weather alerts\n"},
     "files": {"pages/dashboard/index.html": WEATHER_PAGE, "pages/dashboard/app.js": WEATHER_JS,
               "pages/dashboard/css/style.css": WEATHER_CSS,
               "pages/dashboard/img/logo.svg": WEATHER_SVG}},
]


FAILED_PLUGINS = [{
    "name": "astrbot_plugin_legacy_tts", "dir_name": "astrbot_plugin_legacy_tts",
    "error": "ModuleNotFoundError: No module named 'pyttsx3'",
    "traceback": ("Traceback (most recent call last):\n"
                  '  File "data/plugins/astrbot_plugin_legacy_tts/main.py", line 3, in <module>\n'
                  "    import pyttsx3\nModuleNotFoundError: No module named 'pyttsx3'\n"),
    "plugin": {"name": "astrbot_plugin_legacy_tts", "display_name": "Legacy TTS",
               "author": "astrbot-sim", "desc": "Offline text to speech.", "version": "v0.9.0",
               "astrbot_version": ">=4.0.0", "install_method": "local",
               "commands": [command("astrbot_plugin_legacy_tts", "say", "Speak a text")],
               "readme": "# Legacy TTS\n\n`/say <text>` speaks offline.\n"}}]


BUILTIN_TOOLS = [
    tool("web_search", "Search the web", {"query": {"type": "string"}}, "builtin", "AstrBot"),
    tool("fetch_url", "Fetch a web page as text", {"url": {"type": "string"}}, "builtin",
         "AstrBot"),
    tool("astrbot_execute_python", "Run Python code in the sandbox",
         {"code": {"type": "string"}}, "builtin", "AstrBot", permission="admin"),
]


def _entry(rank, name, display, category, desc, version, downloads, stars, updated, tags,
           commands, astrbot_version=">=4.0.0", author="astrbot-sim"):
    return {"id": name, "name": name, "display_name": display, "desc": desc, "author": author,
            "repo": f"https://github.com/{author}/{name}", "version": version,
            "category": category, "tags": tags, "stars": stars, "downloads": downloads,
            "updated_at": updated, "astrbot_version": astrbot_version, "rank": rank,
            "commands": commands}


MARKET = [
    _entry(1, WEATHER, "Weather", "tools", "Current weather and forecasts for any city.",
           "v1.3.0", 15400, 320, "2026-06-01T08:00:00+00:00", ["weather", "forecast"],
           ["weather", "forecast"]),
    _entry(2, "astrbot_plugin_memory", "Long-term memory", "ai",
           "Remembers facts about users across conversations.", "v2.1.0", 22800, 610,
           "2026-06-20T10:00:00+00:00", ["memory", "llm"], ["memory"]),
    _entry(3, "astrbot_plugin_rss", "RSS", "productivity", "Subscribe to RSS feeds in chats.",
           "v1.0.4", 9100, 150, "2026-05-11T09:30:00+00:00", ["rss", "news"], ["rss"]),
    _entry(4, FUN, "Fun", "entertainment", "Dice and word games.", "v0.4.1", 7300, 95,
           "2026-04-02T12:00:00+00:00", ["games", "dice"], ["wt", "dice"]),
    _entry(5, "astrbot_plugin_translate", "Translate", "tools",
           "Translate messages between languages.", "v1.5.2", 12800, 240,
           "2026-06-15T16:45:00+00:00", ["translate", "language"], ["tr"]),
    _entry(6, "astrbot_plugin_github_notify", "GitHub notify", "integration",
           "Pushes GitHub issues and releases to chats.", "v0.8.0", 4100, 88,
           "2026-03-28T07:15:00+00:00", ["github", "webhook"], ["gh"]),
    _entry(7, "astrbot_plugin_quiz", "Quiz", "entertainment", "Trivia quizzes for groups.",
           "v1.1.0", 5600, 70, "2026-05-30T18:20:00+00:00", ["games", "trivia"], ["quiz"]),
    _entry(8, "astrbot_plugin_next_gen", "Next gen agent", "ai",
           "Agent features that need AstrBot 5.", "v0.1.0", 800, 40,
           "2026-06-27T11:00:00+00:00", ["agent", "llm"], ["agent"],
           astrbot_version=">=5.0.0"),
]
