"""A training job in a worker process: progress events, a finished result, bundle + evaluation in the store."""

import time

from core import store
from core.jobs import JobSpec, job_status, list_jobs, start_job
from tests.test_train_data import make_user_dataset


def _wait(job_id, timeout=600):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = job_status(job_id)
        if status["state"] != "running":
            return status
        time.sleep(1)
    raise AssertionError(f"job {job_id} still running after {timeout} s")


def test_job_trains_registers_bundle_and_evaluation(tmp_path):
    csv = make_user_dataset(tmp_path / "data", n_patients=6)
    job_id = start_job(JobSpec(task="miscarriage", manifest=str(csv), arch="smallcnn", cv="kfold:2", epochs=1,
                               input_size=32))
    assert job_id in list_jobs()
    status = _wait(job_id)
    assert status["state"] == "finished", status["error"]
    assert any(e.get("event") == "epoch_end" for e in status["events"])
    registered = status["result"]["registered"]
    bundles = store.list_bundles("miscarriage")
    assert registered["bundle_id"] in list(bundles["id"])
    meta, cases = store.load_evaluation(registered["evaluation"])
    assert len(cases) == 12 and cases["score"].between(0, 1).all()


def test_job_with_a_bad_manifest_fails_with_one_line(tmp_path):
    bad = tmp_path / "manifest.csv"
    bad.write_text("image_path,patient_id,label\nmissing.png,p1,live_birth\n")
    status = _wait(start_job(JobSpec(task="miscarriage", manifest=str(bad), arch="smallcnn", epochs=1)))
    assert status["state"] == "failed"
    assert "missing.png" in status["error"] and "\n" not in status["error"].strip()
