"""The modes of the `ssdlite-detect` command line, one module each (kas's plugins are the model):

| module | mode |
| --- | --- |
| `stills` | `ssdlite-detect PATH...`: still images |
| `live` | `--source SOURCE`: cameras, video files, RTSP, the test pattern |
| `service` | `--source SOURCE --http/--mqtt`: the service mode |
| `common` | the options every mode shares (model, backend, detections, outputs) and the Detector they make |
| `options` | argument types with their range checks; the registry of long options that `--config` reads |

Each mode module has `add_arguments(registry)`, `check(parser, args)`, which turns the parsed
arguments into a frozen options value or a usage error (exit 2) before any model loads, and
`run(options, detector, note, error)`, which returns the exit status. cli.py only parses,
dispatches and maps errors to exit codes.
"""
