from tenantry import create_app

app = create_app()
