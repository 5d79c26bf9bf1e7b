"""``switchboard-provider-sim serve|demo``."""

import asyncio

import typer
from rich.console import Console

from switchboard.common.auth import LocalSigner
from switchboard.common.cli import run_app
from switchboard.providersim.demo import DemoOptions, run_demo
from switchboard.providersim.demo_campaign import CampaignDemo
from switchboard.providersim.demo_conversation import ConversationDemo, control_binder
from switchboard.providersim.demo_voice import VoiceDemo
from switchboard.providersim.settings import LOCAL_ACCOUNT, LOCAL_TOKEN, get_settings
from switchboard.providersim.tokens import ControlTokens, SignerTokens, TokenSource

cli = typer.Typer(
    help="Offline Twilio / WhatsApp / Vapi / ElevenLabs / OpenAI simulator.", no_args_is_help=True
)


@cli.command()
def serve() -> None:
    """Serve the simulator (host and port from SWITCHBOARD_SIM__HOST / __PORT)."""
    sim = get_settings().sim
    run_app("switchboard.providersim.app:app_from_env", host=sim.host, port=sim.port)


@cli.command()
def demo(
    calls: int = typer.Option(1000, help="Calls to create (each sends 2-4 status callbacks)."),
    ingress_url: str = typer.Option("http://127.0.0.1:8000", help="The running ingress."),
    sim_url: str | None = typer.Option(None, help="A running simulator (default: in-process)."),
    account_sid: str = typer.Option(LOCAL_ACCOUNT, help="Twilio account the ingress knows."),
    auth_token: str = typer.Option(LOCAL_TOKEN, help="That account's auth token."),
    database: str = typer.Option("history", help="History's PostgreSQL database."),
    duplicate_rate: float = typer.Option(0.1, help="Share of callbacks sent twice."),
    out_of_order_rate: float = typer.Option(0.1, help="Share of calls delivered shuffled."),
    drop_final_rate: float = typer.Option(
        0.02, help="Share of calls whose final callback is lost (the reconciler closes them)."
    ),
    time_scale: float = typer.Option(0.01, help="Simulated seconds → real seconds."),
    timeout_s: float = typer.Option(300.0, help="Give up after this many seconds."),
    whatsapp_messages: int = typer.Option(
        300, help="Inbound WhatsApp messages after the calls (0: none)."
    ),
    ai_url: str = typer.Option("http://127.0.0.1:8006", help="The running AI admin API."),
    conversation: bool = typer.Option(
        True, help="An AI-answered WhatsApp conversation (needs --sim-url and --operator-key)."
    ),
    voice: bool = typer.Option(
        True,
        help="A live Vapi call answered from a restaurant's knowledge (needs --sim-url, "
        "--operator-key and the AI voice API behind the ingress).",
    ),
    dialer_url: str = typer.Option("http://127.0.0.1:8002", help="The running dialer API."),
    campaign_contacts: int = typer.Option(
        40,
        help="Contacts of a dialer campaign run last (0: none; needs --sim-url and "
        "--operator-key).",
    ),
    control_url: str = typer.Option("http://127.0.0.1:8007", help="The running control API."),
    operator_key: str = typer.Option(
        "",
        envvar="SWITCHBOARD_DEMO_OPERATOR_KEY",
        help="An operator API key: the demo makes the local tenant an API key with it (tokens "
        "for the AI and dialer APIs) and binds the conversation's WhatsApp number.",
    ),
    token_seed: str = typer.Option(
        "",
        help="Tests: sign the API tokens with LocalSigner.from_seed(SEED) instead of asking the "
        "control plane (the APIs must trust its public key).",
    ),
    whatsapp_account: str = typer.Option(
        "local-whatsapp-app", help="The tenant's WhatsApp account (app id) on the control plane."
    ),
    conversation_number: str = typer.Option(
        "",
        help="The conversation's phone_number_id, already bound to the tenant (default: a new "
        "one per run, bound with --operator-key).",
    ),
) -> None:
    """Signed call-status and WhatsApp webhooks through ingress → Kafka → history, an
    AI-answered WhatsApp conversation, a live Vapi call answered from a restaurant's knowledge,
    then a dialer campaign; live progress and summaries."""
    tokens: TokenSource | None = None
    if token_seed:
        tokens = SignerTokens(LocalSigner.from_seed(token_seed), "local")
    elif operator_key:
        tokens = ControlTokens(control_url, operator_key, tenant="local")
    binder = (
        control_binder(
            control_url,
            ControlTokens(control_url, operator_key, tenant="local"),
            account_id=whatsapp_account,
            waba_id=get_settings().sim.whatsapp.waba_id,
        )
        if operator_key
        else None
    )
    options = DemoOptions(
        calls=calls,
        ingress_url=ingress_url,
        sim_url=sim_url,
        account_sid=account_sid,
        auth_token=auth_token,
        database=database,
        duplicate_rate=duplicate_rate,
        out_of_order_rate=out_of_order_rate,
        drop_final_rate=drop_final_rate,
        time_scale=time_scale,
        timeout_s=timeout_s,
        whatsapp_messages=whatsapp_messages,
        conversation=ConversationDemo(
            ai_url,
            tokens,
            bind_number=binder,
            number=conversation_number,
        )
        if conversation and sim_url and tokens
        else None,
        voice=VoiceDemo(ai_url, tokens, ingress_url) if voice and sim_url and tokens else None,
        campaign=CampaignDemo(dialer_url, tokens, contacts=campaign_contacts)
        if campaign_contacts > 0 and sim_url and tokens
        else None,
    )
    ok = asyncio.run(run_demo(options, get_settings().postgres, Console()))
    raise typer.Exit(0 if ok else 1)


@cli.command()
def version() -> None:
    """Print the version."""
    typer.echo("switchboard-provider-sim 0.1.0")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
