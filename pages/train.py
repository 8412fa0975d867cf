"""Train: choose data; the task, architecture and CV scheme follow from it; checked before the worker starts."""

import streamlit as st

from core.errors import InputError
from core.jobs import JobSpec, cancel_job, job_status, list_jobs, start_job
from core.tasks import get_task
from dashboard import train_view as view
from dashboard.auth import current_user
from dashboard.resources import clear_tables
from dashboard.state import init_state

init_state()
st.title("Train a model")

manifest = view.choose_manifest()
ready = False
if manifest is not None:
    task = view.choose_task(manifest)
    c1, c2, c3, c4 = st.columns([1.1, 1.5, 0.8, 0.8])
    arch = view.choose_arch(task, c1)
    cv = view.choose_cv(task, c2)
    epochs = c3.number_input("Epochs", min_value=1, max_value=500, value=5, key="train_epochs")
    size = c4.number_input("Input size (px)", min_value=16, max_value=512, value=min(get_task(task).recipe.input_size,
                           128), step=16, key=f"train_size_{task}", help="128 px at most by default on a CPU")
    ready = view.check(manifest, task, arch, cv)

if st.button("Start training", type="primary", disabled=not ready, key="train_start"):
    user = current_user()
    try:
        job_id = start_job(JobSpec(task=task, manifest=manifest, arch=arch, cv=cv, epochs=int(epochs),
                                   input_size=int(size), actor=user.username if user else None))
        st.session_state.job_id = job_id
        st.session_state.train_job_view = job_id       # the job box shows the job just started
    except InputError as err:
        st.error(str(err))

jobs = list_jobs()
if jobs:
    if st.session_state.get("train_job_view") not in jobs:
        st.session_state.train_job_view = st.session_state.job_id if st.session_state.job_id in jobs else jobs[0]
    job_id = st.selectbox("Job", jobs, key="train_job_view")

    @st.fragment(run_every=2)
    def live(job_id: str) -> None:
        status = job_status(job_id)
        spec = status["spec"]
        st.caption(f"job {job_id} · {spec['task']} · {spec['arch']} · {spec['cv']} · {spec['epochs']} epochs · "
                   f"{status['state']}")
        if status["state"] == "running":
            view.progress_view(status)
            if st.button("Cancel", key=f"cancel_{job_id}"):
                cancel_job(job_id)
        elif status["state"] == "finished":
            view.show_result(status["result"])
            clear_tables()
        elif status["state"] == "failed":
            st.error(status["error"])
        else:
            st.warning("Cancelled.")

    live(job_id)
else:
    st.caption("No training jobs yet.")
