"""SonoDash Streamlit shell: routing, shared components, cached resources."""
