"""Study progress and results (organizer): readers vs AI vs reader + AI, agreement, MRMC, CSV export."""

import streamlit as st

st.title("Reader study results")  # first, so the page shows at once while the rest loads

from core.reader_study import OrganizerSession  # noqa: E402
from dashboard import auth  # noqa: E402
from dashboard import reader_admin as admin  # noqa: E402

account = auth.require("organizer")
if account is None:
    st.stop()
org = OrganizerSession(account.id)
studies = {s["name"]: s for s in org.studies()}
if not studies:
    st.info("No reader study yet. Create one on the 'Set up a study' page.")
    st.stop()
study = studies[st.selectbox("Study", list(studies), key="results_study")]
sid = study["id"]

st.subheader("Progress")
progress = org.progress(sid)
st.dataframe(progress, hide_index=True)
c1, c2 = st.columns(2)
c1.metric("Study status", study["status"])
new_status = "closed" if study["status"] == "open" else "open"
if c2.button(f"Mark study {new_status}", key="toggle_status"):
    org.set_status(sid, new_status)
    st.rerun()

res = org.results(sid)
if res["readers"].empty:
    st.info("No answers yet.")
    st.stop()
st.subheader("Readers, AI and reader + AI")
st.caption(f"Positive class: {study['positive_label']}. AUC from the readers' confidence scores (DeLong CI; "
           "pooled: reader-averaged AUC with the Obuchowski–Rockette CI). Reader + AI: the AI as a second reader "
           "(positive when either says positive), from the unaided reading.")
st.dataframe(admin.readers_table(res["readers"]), hide_index=True)
if not res["unaided_vs_aided"].empty:
    st.subheader("Unaided vs aided, per reader")
    st.dataframe(res["unaided_vs_aided"].round(4), hide_index=True)
st.subheader("Agreement")
if res["fleiss"]:
    st.write(", ".join(f"Fleiss' kappa ({phase}): {v['kappa']:.3f} over {v['n_cases']} cases, {v['n_readers']} readers"
                       for phase, v in res["fleiss"].items()))
    st.dataframe(res["kappa"].round(3), hide_index=True)
else:
    st.write("Agreement needs at least two readers who read the same cases.")
st.subheader("MRMC analysis of AUC (Obuchowski–Rockette, Hillis df, jackknife covariances)")
st.dataframe(admin.mrmc_table(res["mrmc"]), hide_index=True)
st.download_button("Download every answer (CSV)", org.export_csv(sid), file_name=f"{study['name']}-answers.csv",
                   mime="text/csv", key="export_csv")
