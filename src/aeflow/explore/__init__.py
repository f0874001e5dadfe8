"""`aeflow explore`: a local server (FastAPI + uvicorn, the `aeflow[explore]` extra) and a static page that
drive every interactive panel of the story with real trained runs, the measured numbers beside them."""
