"""Home Assistant discovery payloads against the documented MQTT discovery schema
(https://www.home-assistant.io/integrations/sensor.mqtt/ and binary_sensor.mqtt/: the keys listed
here are theirs; an unknown key would make Home Assistant refuse the entity)."""
import json

from ssdlite_detect.service.homeassistant import discovery_configs, node_id, presence_topics, safe_id

# Documented configuration variables used here (full names, Home Assistant 2023 and later).
COMMON = {"name", "unique_id", "object_id", "state_topic", "availability", "availability_mode", "device", "icon"}
SENSOR = COMMON | {"state_class", "unit_of_measurement"}
BINARY_SENSOR = COMMON | {"payload_on", "payload_off", "device_class"}
AVAILABILITY = {"topic", "payload_available", "payload_not_available", "value_template"}
DEVICE = {"identifiers", "name", "manufacturer", "model", "sw_version"}
COUNTS = {"zones": {"door way": {"person": 2}}, "lines": {"gate/1": {"car": {"in": 3, "out": 1}}}}


def test_every_entity_follows_the_discovery_schema():
    configs = discovery_configs("homeassistant", "site/cam1", COUNTS, ["person", "car"])
    assert sorted(configs) == [
        "homeassistant/binary_sensor/ssdlite_site_cam1/present_car/config",
        "homeassistant/binary_sensor/ssdlite_site_cam1/present_person/config",
        "homeassistant/sensor/ssdlite_site_cam1/line_gate_1_car_in/config",
        "homeassistant/sensor/ssdlite_site_cam1/line_gate_1_car_out/config",
        "homeassistant/sensor/ssdlite_site_cam1/zone_door_way_person/config",
    ]
    for topic, payload in configs.items():
        component = topic.split("/")[1]
        assert set(payload) <= (SENSOR if component == "sensor" else BINARY_SENSOR), topic
        assert set(payload["availability"][0]) <= AVAILABILITY and set(payload["device"]) <= DEVICE
        assert payload["unique_id"].startswith("ssdlite_site_cam1_")
        json.dumps(payload)  # plain JSON
    zone = configs["homeassistant/sensor/ssdlite_site_cam1/zone_door_way_person/config"]
    assert zone["state_topic"] == "site/cam1/counts/door way/person" and zone["state_class"] == "measurement"
    line = configs["homeassistant/sensor/ssdlite_site_cam1/line_gate_1_car_in/config"]
    assert line["state_topic"] == "site/cam1/lines/gate/1/car/in" and line["state_class"] == "total_increasing"
    present = configs["homeassistant/binary_sensor/ssdlite_site_cam1/present_person/config"]
    assert present["state_topic"] == "site/cam1/present/person"
    assert (present["payload_on"], present["payload_off"]) == ("ON", "OFF")


def test_ids_keep_to_home_assistants_characters():
    assert safe_id("door way/1 ü") == "door_way_1" and safe_id("///") == "_"
    assert node_id("a/b") == "ssdlite_a_b"


def test_presence_of_every_label_seen():
    assert presence_topics("cam", ["person", "car"], {"car"}) == {"cam/present/person": "OFF", "cam/present/car": "ON"}
