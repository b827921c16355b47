"""The model of this folder as a torch.nn.Module, with the parameter names of the webgpu-dl
checkpoint beside it (load_state_dict(strict=True) takes it as it is).

The module comes from torch_models.py, webgpu-dl's one module of PyTorch equivalents, shipped
here unchanged; kit.json holds the configuration the checkpoint recorded.

    python3 model.py        # prints the module and its parameter count
"""
import json
import os

from torch_models import CharTransformer, ResNet, cnn, gan_discriminator, gan_generator, mlp

HERE = os.path.dirname(os.path.abspath(__file__))


def load_kit(folder=HERE):
    with open(os.path.join(folder, "kit.json")) as f:
        return json.load(f)


def build_model(kit):
    """The torch equivalent of the webgpu-dl model kit.json describes (a GAN's generator)."""
    config = kit["config"]
    if kit["model"] == "gan":
        return gan_generator(config["latent"], config["height"] * config["width"])
    if kit["model"] == "transformer":
        return CharTransformer(config["vocab"], config["context"], config["layers"], config["heads"], config["dim"], config["dropout"])
    if kit["model"] == "resnet":
        return ResNet(config["depth"], config["width"], config["classes"], config["channels"])
    if kit["model"] == "mlp":
        return mlp(config["hidden"], inputs=config["height"] * config["width"], classes=config["classes"])
    if kit["model"] == "cnn":
        return cnn((config["height"], config["width"]), classes=config["classes"])
    raise SystemExit(f"kit.json: model {kit['model']!r} is not one this kit trains (mlp, cnn, resnet, transformer, gan)")


def build_discriminator(kit):
    """A GAN's discriminator."""
    config = kit["config"]
    return gan_discriminator(config["height"] * config["width"])


if __name__ == "__main__":
    kit = load_kit()
    for model in [build_model(kit)] + ([build_discriminator(kit)] if kit["model"] == "gan" else []):
        print(model)
        print(f"{sum(p.numel() for p in model.parameters())} parameters")
