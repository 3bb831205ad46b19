"""The service mode: the detector as a long-running product service on a live source.

    ssdlite-detect --source camera --http 8080 [--mqtt mqtt://broker/camera1] [--config FILE]

| module | concern |
| --- | --- |
| `server` | `ServiceOptions` and `run_service`: the runner (live/runner.py) under asyncio with the outputs below, signals, the systemd watchdog, the 3 s stop |
| `annotated` | the live view's annotated JPEG frames, encoded in their own thread |
| `auth` | who may use the HTTP API: loopback, a bearer token / login cookie, or the explicit opt-out |
| `http` | the aiohttp application: the live view page and the API paths |
| `metrics` | the Prometheus text exposition |
| `mqtt` | results and the retained status (last will `offline`) to an MQTT broker |
| `notify` | sd_notify: READY, WATCHDOG, STATUS, STOPPING |
| `subscription` | `AsyncSubscription`: an HTTP client as a subscriber of the results stream |

Every output is a subscriber of the runner's hub (live/hub.py, the one results stream) with its
own small queue that drops when it falls behind: no client, broker or encoder can slow detection.
Only `auth` and `mqtt.parse_mqtt_url` are imported while the command line is parsed; aiohttp and
paho-mqtt load when the service starts.
"""
