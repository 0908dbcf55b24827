"""Every `st.session_state` key of the console, in one place (no stray string keys)."""

USER = "ihanoi_user"  # SessionUser of the logged-in person
LANG = "ihanoi_lang"  # "vi" | "en"
OPEN_DIALOG = "ihanoi_open_dialog"  # (action, report_id, version) of the open dialog
SELECTED_REPORT = "ihanoi_selected_report"  # report id shown in the detail panel
CASE_FILTERS = "ihanoi_case_filters"
CASE_PAGE = "ihanoi_case_page"
FLASH = "ihanoi_flash"  # a message to show once after a rerun
LOGOUT_BUTTON = "ihanoi_logout_button"  # never "logout": streamlit-authenticator uses it
