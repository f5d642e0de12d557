"""Cairn's Python SDK.

    import cairn
    store = cairn.FeatureStore()            # CAIRN_URL, else http://127.0.0.1:5000
    store.apply("features/")                # YAML definitions -> plan
    train = store.get_historical_features(entity_df, feature_service="churn")
    online = store.get_online_features(features=["customer_spend:spend_7d"],
                                       entity_rows=[{"customer_id": 42}]).to_dict()
    pipes = cairn.Pipelines()
    run = pipes.run("churn-train", params={"max_depth": 8}, wait=True)
"""

from cairn.errors import CairnError
from cairn.feature_store import FeatureStore, OnlineResponse
from cairn.pipelines import Pipelines

__all__ = ["CairnError", "FeatureStore", "OnlineResponse", "Pipelines"]
__version__ = "0.1.0"
