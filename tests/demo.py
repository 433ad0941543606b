"""The demo scenario's ids, in one place (releaser/sim/scenarios/demo.toml is the source;
tests/sim/test_sim_scenarios.py checks that these still match it). Helper modules such as
deployhelp.py and simsupport.py re-export them under the names their tests use."""

from __future__ import annotations

OWNER = "tea-46ityiqdxl9o1pv9trq0"  # the workspace "Acme"
ENV_GROUP = "evg-92lpgx2g5lhjcdiuypdy"  # "shared-secrets", linked to web
MAIN_DB = "dpg-7l12w8x43hfpnuskvnmm-a"  # Postgres "main-db"
WEB = "srv-hjtl316kyssqmyi4ywa3"  # "web" (also in every gonogo-* scenario)
WORKER = "srv-ti5dbf051xm8voph0xct"  # "worker"

# web's history, newest first
LIVE = "dep-hhbxptc0n1q2lqvefl9w"  # live: 902ba3c "Show order totals with tax"
LIVE_COMMIT = "902ba3cda1883801594b6e1b452790cc53948fda"
PREVIOUS = "dep-8e0q7djmgonospezikj5"  # the newest good one before it: c1dfd96 "Revert ..."
PREVIOUS_COMMIT = "c1dfd96eea8cc2b62785275bca38ac261256e278"
UPDATE_FAILED = "dep-kz5ki53jjrslqci2gt69"  # ac3478d "Read DATABASE_URL at import time"
BUILD_FAILED = "dep-40sfbtxykiok5z9rqeqi"
OLDEST = "dep-y0te1ity6hmwi461cicr"  # b6589fc "Add health endpoint"
