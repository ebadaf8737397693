"""Azure Functions entry points: bindings only. All logic is in shared/ (imported lazily so the
worker indexes this module fast; the first invocation pays for the SDK imports)."""

import azure.functions as func

app = func.FunctionApp()

WORK_QUEUE = "aks-triage-work"
ESCALATION_SCHEDULE = "0 */15 * * * *"


@app.function_name(name="on_aks_event")
@app.event_grid_trigger(arg_name="event")
async def on_aks_event(event: func.EventGridEvent) -> None:
    """Intake only: parse, filter, enqueue. Event Grid waits 30 s for an answer; this takes ms."""
    from shared.handlers import on_event

    await on_event(event)


@app.function_name(name="on_work_item")
@app.queue_trigger(arg_name="msg", queue_name=WORK_QUEUE, connection="AzureWebJobsStorage")
async def on_work_item(msg: func.QueueMessage) -> None:
    """Diagnosis: error retrieval, classification, checks, findings. Raises to retry (then poison)."""
    from shared.handlers import on_work_item as handle

    await handle(msg)


@app.function_name(name="on_escalation_timer")
@app.timer_trigger(arg_name="timer", schedule=ESCALATION_SCHEDULE, run_on_startup=False, use_monitor=True)
async def on_escalation_timer(timer: func.TimerRequest) -> None:
    """Re-checks open transient findings and escalates those still failing past the threshold."""
    from shared.handlers import on_timer

    await on_timer()
