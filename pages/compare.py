"""CNN versus rules: a stored evaluation's ROC with the CRL/FHR rule points, a live threshold, DeLong."""

import streamlit as st

from core.errors import InputError
from dashboard import compare_view as view
from dashboard.components import disclaimer
from dashboard.resources import bootstrap, evaluation, evaluations

bootstrap()
st.title("CNN versus CRL/FHR rules")
disclaimer()

table = evaluations()
binary = table[[view.uses_rules(t) for t in table["task"]]] if not table.empty else table
if binary.empty:
    st.info("No stored evaluation of a study that uses the CRL/FHR rules yet. Run `python -m core evaluate` "
            "or train a model on the Train page.")
    st.stop()
name = st.selectbox("Evaluation", list(binary["name"]), key="compare_eval")
threshold = st.slider("CNN operating threshold", 0.0, 1.0, 0.5, 0.01, key="compare_threshold")

from core.comparison import compare, per_week_table  # noqa: E402  (after the cheap widgets draw)
from core.rules import DEFAULT_RULE_TABLE, RuleTable  # noqa: E402

meta, cases = evaluation(name)
stored = RuleTable.from_dict(meta["rule_table"]) if meta.get("rule_table") else DEFAULT_RULE_TABLE
with st.expander("Rule table (editable; results are recomputed)"):
    rule_table = view.rule_table_editor(stored)
try:
    result = compare(meta, cases, threshold=threshold, rule_table=rule_table)
except InputError as err:
    st.error(str(err))
    st.stop()
view.render(result)
st.subheader("Per gestational week")
st.dataframe(per_week_table(meta, result["patients"], result["y"], threshold=threshold), hide_index=True,
             width="stretch")
