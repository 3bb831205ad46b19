"""The service mode: the detector as a long-running product service on a live source.

    ssdlite-detect --source camera --http 8080 [--mqtt mqtt://broker/camera1] [--config FILE]

| module | concern |
| --- | --- |
| `config` | `--config FILE`: TOML settings with the long options' names and checks |
| `hub` | the one results stream: latest result, statistics, state, bounded dropping subscribers |
| `supervisor` | the DetectionStream on the source, retried with backoff when the source is lost; sd_notify |
| `annotated` | the live view's annotated JPEG frames, encoded in their own thread |
| `auth` | who may use the HTTP API: loopback, a bearer token / login cookie, or the explicit opt-out |
| `http` | the aiohttp application: the live view page and the API paths |
| `metrics` | the Prometheus text exposition |
| `mqtt` | results and the retained status (last will `offline`) to an MQTT broker |
| `command` | wiring it together under asyncio, signals, the systemd watchdog |

Every output is a subscriber with its own small queue that drops when it falls behind: no client,
broker or encoder can slow detection. Only `config` and `mqtt.parse_mqtt_url` are imported while
the command line is parsed; aiohttp and paho-mqtt load when the service starts.
"""
