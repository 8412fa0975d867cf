"""Train: choose data, study, architecture, CV scheme and epochs; the run goes to a worker process."""

import streamlit as st

from core.errors import InputError
from core.jobs import JobSpec, cancel_job, job_status, list_jobs, start_job
from core.tasks import get_task, list_tasks
from dashboard import train_view as view
from dashboard.resources import clear_tables
from dashboard.state import init_state

init_state()
st.title("Train a model")

manifest = view.choose_manifest()
c1, c2, c3, c4 = st.columns(4)
task = c1.selectbox("Task", list_tasks(), key="train_task")
arch_options = ["smallcnn", "resnet18", "mobilenet_v3_small", "vgg19", "resnet34", "unet", "unet_cls", "fcn",
                "deeplabv3", "maskrcnn_lite", "maskrcnn_mobilenet", "maskrcnn"]
default_arch = get_task(task).default_arch
arch = c2.selectbox("Architecture", arch_options, index=arch_options.index(default_arch)
                    if default_arch in arch_options else 0, key=f"train_arch_{task}")
cv = c3.selectbox("Cross-validation", ["holdout", "kfold:5", "kfold:10", "lopo", "repeated:5"], key="train_cv")
epochs = c4.number_input("Epochs", min_value=1, max_value=500, value=5, key="train_epochs")

if st.button("Start training", type="primary", disabled=manifest is None):
    try:
        st.session_state.job_id = start_job(JobSpec(task=task, manifest=manifest, arch=arch, cv=cv, epochs=int(epochs)))
    except InputError as err:
        st.error(str(err))

jobs = list_jobs()
if jobs:
    current = st.session_state.job_id if st.session_state.job_id in jobs else jobs[0]
    job_id = st.selectbox("Job", jobs, index=jobs.index(current), key="train_job_view")


    @st.fragment(run_every=2)
    def live(job_id: str) -> None:
        status = job_status(job_id)
        spec = status["spec"]
        st.caption(f"{spec['task']} · {spec['arch']} · {spec['cv']} · {spec['epochs']} epochs · {status['state']}")
        if status["state"] == "running":
            view.progress_view(status)
            if st.button("Cancel", key=f"cancel_{job_id}"):
                cancel_job(job_id)
        elif status["state"] == "finished":
            result = status["result"]
            st.success(f"Finished: bundle {result['bundle']}; registered {result.get('registered')}")
            st.json(result.get("metrics", {}))
            clear_tables()
        elif status["state"] == "failed":
            st.error(status["error"])
        else:
            st.warning("Cancelled.")

    live(job_id)
else:
    st.caption("No training jobs yet.")
