"""Names vulture reports as unused that are used: each group says by whom.

``tests/test_architecture.py`` runs vulture on the package with this file; anything it reports
that is not here is dead code to delete.
"""

# ruff: noqa

# aftersales_kit/__init__.py: module protocol: lazy attributes and tab completion
__getattr__  # unused function (aftersales_kit/__init__.py:26)
__dir__  # unused function (aftersales_kit/__init__.py:36)

# aftersales_kit/actions.py: keys of the DOMAIN §7 open-orders JSON (TypedDict fields, written by json.dumps)
service_id  # unused variable (aftersales_kit/actions.py:25)
elapsed_hours  # unused variable (aftersales_kit/actions.py:31)
due_at  # unused variable (aftersales_kit/actions.py:33)
over_60h  # unused variable (aftersales_kit/actions.py:34)
will_count  # unused variable (aftersales_kit/actions.py:35)
dispute_risk  # unused variable (aftersales_kit/actions.py:36)
order_id  # unused variable (aftersales_kit/actions.py:37)
return_method  # unused variable (aftersales_kit/actions.py:38)
apply_time  # unused variable (aftersales_kit/actions.py:39)
action_text  # unused variable (aftersales_kit/actions.py:43)
service_id  # unused variable (aftersales_kit/actions.py:49)
order_id  # unused variable (aftersales_kit/actions.py:53)
apply_time  # unused variable (aftersales_kit/actions.py:54)
first_audit_time  # unused variable (aftersales_kit/actions.py:55)
action_text  # unused variable (aftersales_kit/actions.py:57)

# aftersales_kit/api.py: IPython display protocol and the public API (d.to_html, d.to_excel)
_._repr_html_  # unused method (aftersales_kit/api.py:48)
_.to_html  # unused method (aftersales_kit/api.py:51)
_.to_excel  # unused method (aftersales_kit/api.py:57)
_._repr_html_  # unused method (aftersales_kit/api.py:193)

# aftersales_kit/cli/data.py: command handlers, called by name from cli.HANDLERS
command_validate  # unused function (aftersales_kit/cli/data.py:23)
command_metrics  # unused function (aftersales_kit/cli/data.py:39)
command_actions  # unused function (aftersales_kit/cli/data.py:72)
command_demo  # unused function (aftersales_kit/cli/data.py:91)

# aftersales_kit/cli/deliver.py: command handlers, called by name from cli.HANDLERS
command_email  # unused function (aftersales_kit/cli/deliver.py:93)
command_daily  # unused function (aftersales_kit/cli/deliver.py:154)

# aftersales_kit/cli/render.py: command handlers, called by name from cli.HANDLERS
command_render  # unused function (aftersales_kit/cli/render.py)
command_report  # unused function (aftersales_kit/cli/render.py:53)
command_batch  # unused function (aftersales_kit/cli/render.py:69)

# aftersales_kit/config.py: pydantic: model fields, model_config and validators are read by pydantic
_._no_password  # unused method (aftersales_kit/config.py:138)
brand  # unused variable (aftersales_kit/config.py:166)
manager  # unused variable (aftersales_kit/config.py:167)
model_config  # unused variable (aftersales_kit/config.py:386)

# aftersales_kit/deliver/daily.py: keys of the daily run record (TypedDict fields, written as JSON)
run_at  # unused variable (aftersales_kit/deliver/daily.py:258)
stores_without_orders  # unused variable (aftersales_kit/deliver/daily.py:272)

# aftersales_kit/demo/simulate.py: simulation parameters, read by name (Simulation.param)
audit_hours  # unused variable (aftersales_kit/demo/simulate.py:505)
work_start  # unused variable (aftersales_kit/demo/simulate.py:506)
work_end  # unused variable (aftersales_kit/demo/simulate.py:507)
weekend_off  # unused variable (aftersales_kit/demo/simulate.py:508)
ship_hours  # unused variable (aftersales_kit/demo/simulate.py:513)
cheap_carriers  # unused variable (aftersales_kit/demo/simulate.py:514)
inbound_hours  # unused variable (aftersales_kit/demo/simulate.py:515)
process_factor  # unused variable (aftersales_kit/demo/simulate.py:517)
audit_trend  # unused variable (aftersales_kit/demo/simulate.py:518)
reject_rate  # unused variable (aftersales_kit/demo/simulate.py:519)

# aftersales_kit/findings.py: checks registered by the @check decorator and run by find()
consumer_warning  # unused function (aftersales_kit/findings.py:226)
open_breached  # unused function (aftersales_kit/findings.py:269)
open_long  # unused function (aftersales_kit/findings.py:299)
trend_up  # unused function (aftersales_kit/findings.py:313)
audit_peak_staffing  # unused function (aftersales_kit/findings.py:326)
pickup_slow  # unused function (aftersales_kit/findings.py:351)
tracking_stale  # unused function (aftersales_kit/findings.py:362)
transit_slow  # unused function (aftersales_kit/findings.py:369)
inbound_slow  # unused function (aftersales_kit/findings.py:383)
process_slow  # unused function (aftersales_kit/findings.py:409)
low_first_pass  # unused function (aftersales_kit/findings.py:420)
sa_tool  # unused function (aftersales_kit/findings.py:453)
exchange_stock  # unused function (aftersales_kit/findings.py:472)
jd_mismatch  # unused function (aftersales_kit/findings.py:492)
long_tail  # unused function (aftersales_kit/findings.py:507)

# aftersales_kit/metrics.py: keys of the DOMAIN §7 JSON (TypedDict fields) and the public per-store API
max_abs_diff_hours  # unused variable (aftersales_kit/metrics.py:54)
stages  # unused variable (aftersales_kit/metrics.py:81)
store_metrics  # unused function (aftersales_kit/metrics.py:249)
kpis_for  # unused function (aftersales_kit/metrics.py:308)

# aftersales_kit/model.py: fields of the public Diagnosis and its parts (docs/API.md): the analyst's data
full_condition  # unused variable (aftersales_kit/model.py:151)
hours_judged  # unused variable (aftersales_kit/model.py:176)
max_abs_diff_hours  # unused variable (aftersales_kit/model.py:216)
largest_reason  # unused variable (aftersales_kit/model.py:256)
intervention_unbounded  # unused variable (aftersales_kit/model.py:270)
alert_orders  # unused variable (aftersales_kit/model.py:386)

# aftersales_kit/render/_compat.py: the stock function kept on each patched one, for the equivalence tests
_._aftersales_once  # marks the patched function (tests/test_compat.py checks it is restored)
_._aftersales_columns  # likewise
_.stock  # unused attribute (aftersales_kit/render/_compat.py:87)
_.stock  # unused attribute (aftersales_kit/render/_compat.py:160)
_.stock  # unused attribute (aftersales_kit/render/_compat.py:161)

# aftersales_kit/render/charts.py: IPython display protocol and the notebook helper charts.offline
_repr_mimebundle_  # IPython display protocol (aftersales_kit/render/charts.py, html.py)
include  # the protocol's argument names (IPython passes them by keyword)
_._repr_html_  # unused method (aftersales_kit/render/charts.py:195)
offline  # unused function (aftersales_kit/render/charts.py:204)

# aftersales_kit/render/engine.py: papermill's engine hook and the entry point's module __getattr__
_.execute_managed_notebook  # unused method (aftersales_kit/render/engine.py:496)
__getattr__  # unused function (aftersales_kit/render/engine.py:620)

# aftersales_kit/render/html.py: IPython display protocol
_._repr_html_  # unused method (aftersales_kit/render/html.py:113)

# aftersales_kit/render/portfolio.py: estate summary keys (TypedDict fields, JSON) and the portfolio notebook's cells
prev_mean_hours  # unused variable (aftersales_kit/render/portfolio.py:72)
warning_level  # unused variable (aftersales_kit/render/portfolio.py:76)
warning_state  # unused variable (aftersales_kit/render/portfolio.py:77)
tomorrow_mean_hours  # unused variable (aftersales_kit/render/portfolio.py:78)
tomorrow_delta_hours  # unused variable (aftersales_kit/render/portfolio.py:79)
open_breached  # unused variable (aftersales_kit/render/portfolio.py:83)
brand  # unused variable (aftersales_kit/render/portfolio.py:99)
manager  # unused variable (aftersales_kit/render/portfolio.py:100)
prev_mean_hours  # unused variable (aftersales_kit/render/portfolio.py:103)
level_text  # unused variable (aftersales_kit/render/portfolio.py:110)
load_summary  # unused function (aftersales_kit/render/portfolio.py:221)
show_meta  # unused function (aftersales_kit/render/portfolio.py:303)
ranking  # unused function (aftersales_kit/render/portfolio.py:602)
group_rollups  # unused function (aftersales_kit/render/portfolio.py:711)
distribution  # unused function (aftersales_kit/render/portfolio.py:806)
warning_stores  # unused function (aftersales_kit/render/portfolio.py:847)
short_boards  # unused function (aftersales_kit/render/portfolio.py:881)

# aftersales_kit/render/report.py: a traitlets setting, an import for its side effect, a sidecar key (JSON)
ReportPreprocessor  # named in templates/aftersales/conf.json (stock nbconvert --template aftersales)
_.remove_cell_tags  # unused attribute (aftersales_kit/render/report.py:392)
jupyter_core  # unused import (aftersales_kit/render/report.py:577)
rendered_at  # unused variable (aftersales_kit/render/report.py:838)

# aftersales_kit/render/sections.py: the store notebook's cells (notebooks/store_report.ipynb)
prepare  # unused function (aftersales_kit/render/sections.py:176)
show_meta  # unused function (aftersales_kit/render/sections.py:248)
stages  # unused function (aftersales_kit/render/sections.py:480)
breakdown  # unused function (aftersales_kit/render/sections.py:559)
teams  # unused function (aftersales_kit/render/sections.py:758)
reconcile  # unused function (aftersales_kit/render/sections.py:996)
suggestions  # unused function (aftersales_kit/render/sections.py:1174)
methodology  # unused function (aftersales_kit/render/sections.py:1203)

# aftersales_kit/rules.py: pydantic: model fields, model_config and validators are read by pydantic
FIRST_PROCESS  # unused variable (aftersales_kit/rules.py:84)
REPAIR_REPLACEMENT  # unused variable (aftersales_kit/rules.py:99)
AWAITING_CUSTOMER  # unused variable (aftersales_kit/rules.py:117)
STOPS  # unused variable (aftersales_kit/rules.py:131)
model_config  # unused variable (aftersales_kit/rules.py:393)
audit_over_24h  # unused variable (aftersales_kit/rules.py:399)
return_ship_over_24h  # unused variable (aftersales_kit/rules.py:400)
tracking_stale_over_48h  # unused variable (aftersales_kit/rules.py:401)
transit_over_72h  # unused variable (aftersales_kit/rules.py:402)
inbound_over_24h  # unused variable (aftersales_kit/rules.py:403)
inbound_over_48h  # unused variable (aftersales_kit/rules.py:404)
process_over_24h  # unused variable (aftersales_kit/rules.py:405)
refund_over_24h  # unused variable (aftersales_kit/rules.py:406)
total_over_60h  # unused variable (aftersales_kit/rules.py:407)
return_ship  # unused variable (aftersales_kit/rules.py:414)
_._ordered  # unused method (aftersales_kit/rules.py:426)
_._matches_something  # unused method (aftersales_kit/rules.py:446)
_._history_covers_window  # unused method (aftersales_kit/rules.py:481)

# aftersales_kit/views.py: public helper: the rules-file text adopting readings (docs/METHOD.md)
adopted_scenes  # unused function (aftersales_kit/views.py:346)
