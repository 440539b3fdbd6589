from tts_common.migrate import run_env

run_env("auth-broker")
