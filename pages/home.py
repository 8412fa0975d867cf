"""Home: what SonoDash does, the sample data, and the research-use disclaimer."""

import streamlit as st

from dashboard.components import disclaimer
from dashboard.resources import sample_data_overview

st.title("SonoDash")
st.write(
    "Prenatal-ultrasound AI in the browser: segment gestational sacs and cervices, compare a CNN with the "
    "crown-rump-length / fetal-heart-rate rules, explain predictions with Grad-CAM, train and evaluate models "
    "on your own data, and run blinded reader studies."
)
disclaimer()

st.subheader("Sample data")
overview = sample_data_overview()
if overview.empty:
    st.info("No sample data found. Create it with `python -m core make-sample-data --out sample_data`.")
else:
    st.dataframe(overview, hide_index=True, width="stretch")
