"""Streamlit-only helpers of the console: auth, i18n, cached resources, components."""
