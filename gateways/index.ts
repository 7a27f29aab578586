/**
 * Protocol gateways, one folder each (`mqtt/`, `xmpp/`, `websocket/`), plus what they
 * share in `shared/`: codec → mapper → messaging API (STYLE.md §8). The first gateway
 * arrives with the MQTT issue.
 */
export {};
