"""Models: registered bundles, one model card each (a page, not JSON); default, download, delete."""

import streamlit as st

from dashboard import models_view as view
from dashboard.resources import bootstrap, bundles

bootstrap()
st.title("Models")

deleted = st.session_state.pop("models_deleted", None)
if deleted:
    st.success(f"Deleted model #{deleted['id']} {deleted['name']}; {deleted['evaluations_kept']} evaluation(s) kept.")
table = bundles()
if table.empty:
    st.info("No registered models. Train one on the Train page, or run `python -m core demo register`.")
    st.stop()
shown = table.assign(flag=table["flag"].fillna(""))
st.dataframe(shown[["id", "name", "task", "arch", "is_default_for_task", "flag", "created"]], hide_index=True,
             width="stretch", key="models_table")

table = table.astype({"flag": object, "flag_reason": object}).where(table.notna(), None)   # NaN -> None
labels = {int(r.id): f"#{r.id} {r.name} ({r.task}, {r.arch})" + (" — flagged" if r.flag else "")
          for r in table.itertuples()}
key = f"models_card_{st.session_state.setdefault('models_gen', 0)}"   # a new widget after a deletion
wanted = st.query_params.get("model")                                  # ?model=ID links to a card
if wanted and wanted.isdigit() and int(wanted) in labels and key not in st.session_state:
    st.session_state[key] = int(wanted)
if st.session_state.get(key) not in labels:
    st.session_state.pop(key, None)
chosen = st.selectbox("Model card", list(labels), format_func=labels.get, key=key)
view.draw_card(table[table["id"] == chosen].iloc[0].to_dict())
