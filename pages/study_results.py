"""Study progress and results (organizer): ROC of the AI with reader operating points, readers vs AI vs
reader + AI, per-case table, agreement (weighted kappa for ordinal answers), MRMC, CSV export."""

import streamlit as st

st.title("Reader study results")  # first, so the page shows at once while the rest loads

from core import audit  # noqa: E402
from core.reader_study import OrganizerSession  # noqa: E402
from dashboard import auth  # noqa: E402
from dashboard import reader_admin as admin  # noqa: E402
from dashboard.study_charts import roc_figure  # noqa: E402

account = auth.require("organizer", "admin")
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
c1, c2 = st.columns([3, 1])
c1.dataframe(org.progress(sid), hide_index=True)
c2.metric("Study status", study["status"])

res = org.results(sid)
if res["readers"].empty:
    st.info("No answers yet.")
    st.stop()
st.subheader("ROC: the AI and each reader (unaided → aided)")
st.plotly_chart(roc_figure(res["roc"]), key="results_roc", config={"displaylogo": False})
if res["roc"].get("ai_note"):
    st.caption(res["roc"]["ai_note"])
st.caption("Points: each reader's decisions (1 − specificity, sensitivity); open = unaided, filled = aided; "
           "arrows join a reader's unaided and aided points.")
st.subheader("Readers, AI and reader + AI")
st.caption(f"Positive class: {study['positive_label']}. AUC from the readers' confidence scores (DeLong CI; "
           "pooled: reader-averaged AUC with the Obuchowski–Rockette CI). Reader + AI: the AI as a second reader "
           "(positive when either says positive), from the unaided reading.")
st.dataframe(admin.readers_table(res["readers"]), hide_index=True)
if not res["unaided_vs_aided"].empty:
    st.subheader("Unaided vs aided, per reader")
    st.dataframe(res["unaided_vs_aided"].round(4).astype(object).fillna("not defined: needs both classes"),
                 hide_index=True)
st.subheader("Per case")
st.dataframe(res["cases"], hide_index=True, width="stretch")
st.subheader("Agreement")
if res["fleiss"]:
    st.write(", ".join(f"Fleiss' kappa ({phase}): {admin.fmt(v['kappa'])} over {v['n_cases']} cases, "
                       f"{v['n_readers']} readers" for phase, v in res["fleiss"].items()))
    st.dataframe(admin.kappa_table(res["kappa"]), hide_index=True)
    if not res["weighted_kappa"].empty:
        st.markdown("Weighted kappa on the 5-point scale (linear and quadratic weights, 95 % CI)")
        st.dataframe(admin.kappa_table(res["weighted_kappa"]), hide_index=True)
else:
    st.write("Agreement needs at least two readers who read the same cases.")
st.subheader("MRMC analysis of AUC (Obuchowski–Rockette, Hillis df, jackknife covariances)")
st.dataframe(admin.mrmc_table(res["mrmc"]), hide_index=True)
from dashboard import mrmc_view  # noqa: E402  (issue 21: fixed- and random-reader MRMC side by side)
mrmc_view.render(res["mrmc"])
st.download_button("Download every answer (CSV)", org.export_csv(sid, record=False),
                   file_name=f"{study['name']}-answers.csv", mime="text/csv", key="export_csv",
                   on_click=audit.record, args=(account.username, "export.study_answers", f"study:{sid}"))
