"""The /_sim control API: config changes, validation, scenarios, log, reset."""


def test_patch_merges_put_replaces_and_bad_config_is_refused(sim):
    merged = sim.configure(faults={"duplicate_rate": 0.25}, outcomes={"busy": 2})
    assert merged["faults"]["duplicate_rate"] == 0.25 and merged["outcomes"]["busy"] == 2
    assert merged["outcomes"]["completed"] == 0.7  # untouched siblings stay
    assert sim.account in merged["twilio_accounts"]

    refused = sim.http.patch("/_sim/config", json={"faults": {"retries": "many"}})
    assert refused.status_code == 400
    assert sim.http.get("/_sim/config").json()["faults"]["retries"] == 0

    replaced = sim.http.put("/_sim/config", json={"seed": 3}).json()
    assert replaced["seed"] == 3 and replaced["faults"]["duplicate_rate"] == 0


def test_scenarios_can_be_stopped_and_unknown_ones_are_404(sim, receiver, wait):
    sim.configure(whatsapp={"webhook_url": receiver.url + "/wa"})
    name = sim.http.post(
        "/_sim/scenarios/whatsapp", json={"count": 100000, "users": 3, "rate": 50}
    ).json()["scenario"]
    wait(lambda: len(receiver.on("wa")) > 0)
    assert sim.http.delete(f"/_sim/scenarios/{name}").json() == {"stopped": name}
    wait(lambda: sim.http.get("/_sim/scenarios").json()[name] == "stopped")
    assert sim.http.post("/_sim/scenarios/nope", json={"count": 1}).status_code == 404
    assert sim.http.delete("/_sim/scenarios/nope").status_code == 404


def test_log_records_calls_and_webhooks_in_order(sim, receiver, wait):
    sid = sim.create_call(StatusCallback=receiver.url + "/s").json()["sid"]
    wait(sim.idle)
    created = sim.log("twilio.call.created")
    assert [e["sid"] for e in created] == [sid]
    delivered = sim.log("webhook.delivered")
    assert len(delivered) == 1 and delivered[0]["status"] == 204
    assert delivered[0]["key"].startswith(sid)
    kinds = [e["kind"] for e in sim.http.get("/_sim/log").json()]
    assert kinds.index("twilio.call.created") < kinds.index("webhook.delivered")


def test_calls_summary_counts_calls_per_number(sim, wait):
    for to in ("+14155550101", "+14155550102", "+14155550101"):
        assert sim.create_call(To=to).status_code == 201
    summary = sim.http.get("/_sim/calls/summary").json()
    assert (summary["calls"], summary["numbers"], summary["max_per_number"]) == (3, 2, 2)
    assert summary["repeated_sample"] == {"+14155550101": 2}
    assert sum(summary["by_status"].values()) == 3


def test_metrics_count_what_the_simulator_did(sim, receiver, wait):
    from prometheus_client.parser import text_string_to_metric_families

    sim.create_call(StatusCallback=receiver.url + "/s")
    wait(sim.idle)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(sim.http.get("/metrics").text)
        for s in family.samples
    }
    assert samples[("switchboard_sim_events_total", (("kind", "webhook.sent"),))] >= 1
    assert sum(v for (n, _), v in samples.items() if n == "switchboard_sim_calls") == 1
    assert ("process_cpu_seconds_total", ()) in samples
