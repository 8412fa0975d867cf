"""Models: registered bundles with a model card each; choose the default model per study."""

import json
from pathlib import Path

import streamlit as st

from core import store
from dashboard.resources import bootstrap, bundles, clear_tables

bootstrap()
st.title("Models")

table = bundles()
if table.empty:
    st.info("No registered models. Train one on the Train page, or run `python -m core demo register`.")
    st.stop()
st.dataframe(table[["id", "name", "task", "arch", "is_default_for_task", "created"]], hide_index=True,
             width="stretch")

labels = {int(r.id): f"#{r.id} {r.name} ({r.task}, {r.arch})" for r in table.itertuples()}
chosen = st.selectbox("Model card", list(labels), format_func=labels.get, key="models_card")
row = table[table["id"] == chosen].iloc[0]
meta_path = Path(row["path"]) / "model.json"
meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
c1, c2 = st.columns(2)
with c1:
    st.markdown(f"**{row['name']}** — task `{row['task']}`, architecture `{row['arch']}`")
    st.write({"classes": meta.get("class_names"), "input size": meta.get("input_size"),
              "input channels": meta.get("in_channels"), "ImageNet weights": meta.get("pretrained"),
              "operating threshold": meta.get("threshold"), "ensemble members": meta.get("ensemble_size"),
              "created": meta.get("created"), "data fingerprint": meta.get("data_fingerprint")})
    if row["is_default_for_task"]:
        st.success(f"Default model for {row['task']}.")
    elif st.button(f"Make default for {row['task']}", key="models_default"):
        store.set_default_bundle(row["task"], int(chosen))
        clear_tables()
        st.rerun()
with c2:
    st.markdown("**Metrics**")
    st.json(meta.get("metrics") or row.get("metrics") or {})
    st.markdown("**Recipe**")
    st.json(meta.get("recipe") or {})
    st.caption(f"Package versions: {meta.get('versions')}")
