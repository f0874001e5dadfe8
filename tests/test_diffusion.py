"""Analytic facts about the noise processes and samplers (no training)."""

import math

import pytest
import torch

from aeflow.diffusion import flow
from aeflow.diffusion.ddpm import DDPMSchedule, beta_schedule, ddim_timesteps
from aeflow.diffusion.flow import churn_back, flow_time_grid
from aeflow.samplers import SAMPLERS


# The samplers take a model that exposes its learned process; these tests give them analytic ones.
class VelocityModel:
    def __init__(self, velocity):
        self.velocity = velocity


class PredictorModel:
    def __init__(self, predict, schedule, clip=None):
        self.predict, self.schedule, self.clip = predict, schedule, clip


def ode_fixed_steps(velocity, x, steps, method="euler", shift=1.0, churn=0.0, generator=None):
    sampler = SAMPLERS[method]
    options = sampler.options({"steps": steps, "shift": shift, "churn": churn})
    return sampler().run(VelocityModel(velocity), x, options, generator)


def ode_adaptive(velocity, x, rtol=1e-4, atol=1e-4):
    sampler = SAMPLERS["adaptive"]
    return sampler().run(VelocityModel(velocity), x, sampler.options({"rtol": rtol, "atol": atol}))


def ddpm_ancestral(predict, schedule, x, generator=None):
    return SAMPLERS["ddpm"]().run(PredictorModel(predict, schedule), x, None, generator)


def ddim(predict, schedule, x, steps, eta=0.0, generator=None):
    options = SAMPLERS["ddim"].options({"steps": steps, "eta": eta})
    return SAMPLERS["ddim"]().run(PredictorModel(predict, schedule), x, options, generator)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_q_xt_given_x0_has_the_closed_form_moments(kind):
    schedule = DDPMSchedule(kind, 1000)
    torch.manual_seed(0)
    x0 = torch.full((200_000,), 0.7)
    for step in (0, 300, 999):
        t = torch.full_like(x0, step, dtype=torch.long)
        xt = schedule.add_noise(x0, t, torch.randn_like(x0))
        ab = float(schedule.alpha_bar[step])
        assert float(xt.mean()) == pytest.approx(math.sqrt(ab) * 0.7, abs=0.01)
        assert float(xt.var()) == pytest.approx(1 - ab, rel=0.02, abs=1e-5)
    assert float(schedule.alpha_bar[-1]) < 1e-4  # the last step is (nearly) pure noise


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_posterior_matches_bayes_rule(kind):
    schedule = DDPMSchedule(kind, 1000)
    x0, xt = torch.randn(5), torch.randn(5)
    for step in (1, 500, 999):
        t = torch.full((5,), step)
        mean, var = schedule.posterior(x0, xt, t)
        betas = beta_schedule(kind, 1000)  # float64, independent of the schedule's float32 tables
        ab_prev, beta = float(torch.cumprod(1 - betas, 0)[step - 1]), float(betas[step])
        # prior q(x_{t-1} | x_0) = N(sqrt(ab_prev) x0, 1 - ab_prev); q(x_t | x_{t-1}) = N(sqrt(1 - beta) x, beta)
        precision = 1 / (1 - ab_prev) + (1 - beta) / beta
        expected_mean = (math.sqrt(ab_prev) * x0 / (1 - ab_prev) + math.sqrt(1 - beta) * xt / beta) / precision
        torch.testing.assert_close(mean, expected_mean.float(), rtol=1e-4, atol=1e-5)
        assert float(var[0]) == pytest.approx(1 / precision, rel=1e-4)


@pytest.mark.parametrize("kind", ["epsilon", "x0", "v"])
def test_prediction_converters_invert_the_targets(kind):
    schedule = DDPMSchedule("cosine", 1000)
    x0, noise = torch.randn(6, 1, 4, 4), torch.randn(6, 1, 4, 4)
    t = torch.tensor([0, 10, 200, 500, 900, 999])
    xt = schedule.add_noise(x0, t, noise)
    x0_hat, eps_hat = schedule.to_x0_eps(schedule.target(x0, noise, t, kind), xt, t, kind)
    torch.testing.assert_close(eps_hat, noise, rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(x0_hat[:5], x0[:5], rtol=1e-3, atol=2e-3)  # x0 from eps at t=999 amplifies error


@pytest.mark.parametrize("kind", ["epsilon", "x0", "v"])
def test_min_snr_weight_is_min_snr_times_the_x0_error(kind):
    schedule = DDPMSchedule("linear", 1000)
    x0, noise = torch.randn(4, 16), torch.randn(4, 16)
    t = torch.tensor([5, 100, 400, 950])
    xt = schedule.add_noise(x0, t, noise)
    prediction = schedule.target(x0, noise, t, kind) + 0.1 * torch.randn(4, 16)
    x0_hat, _ = schedule.to_x0_eps(prediction, xt, t, kind)
    target_error = (prediction - schedule.target(x0, noise, t, kind)).pow(2).sum(1)
    x0_error = (x0_hat - x0).pow(2).sum(1)
    weighted = schedule.min_snr_weight(t, kind, 5.0) * target_error
    torch.testing.assert_close(weighted, schedule.snr(t).clamp(max=5.0) * x0_error, rtol=1e-3, atol=1e-5)


def gaussian_predictor(schedule, m, s):
    """The exact E[x0 | x_t] for data N(m, s^2): the optimal network, in closed form."""
    def predict(xt, t):
        ab = schedule.alpha_bar[t].reshape(-1, *([1] * (xt.ndim - 1)))
        x0 = m + ab.sqrt() * s ** 2 / (ab * s ** 2 + 1 - ab) * (xt - ab.sqrt() * m)
        return x0, (xt - ab.sqrt() * x0) / (1 - ab).sqrt()
    return predict


def test_ddim_with_eta_1_on_the_full_schedule_is_ancestral_sampling():
    schedule = DDPMSchedule("linear", 1000)
    predict = gaussian_predictor(schedule, 0.5, 0.3)
    x = torch.randn(4000, 1)
    ancestral, nfe_a = ddpm_ancestral(predict, schedule, x, torch.Generator().manual_seed(1))
    implicit, nfe_i = ddim(predict, schedule, x, 1000, eta=1.0, generator=torch.Generator().manual_seed(1))
    assert nfe_a == nfe_i == 1000
    torch.testing.assert_close(implicit, ancestral, rtol=1e-4, atol=1e-4)  # the same noise: the same samples
    assert float(ancestral.mean()) == pytest.approx(0.5, abs=0.02)  # and the data distribution
    assert float(ancestral.std()) == pytest.approx(0.3, rel=0.05)


def test_ddim_deterministic_few_steps_reaches_the_data_distribution():
    schedule = DDPMSchedule("cosine", 1000)
    assert ddim_timesteps(1000, 4) == [999, 749, 499, 249]
    assert len(ddim_timesteps(1000, 1000)) == 1000
    x = torch.randn(20_000, 1)
    samples, nfe = ddim(gaussian_predictor(schedule, -1.0, 2.0), schedule, x, 50)
    assert nfe == 50
    assert float(samples.mean()) == pytest.approx(-1.0, abs=0.05)
    assert float(samples.std()) == pytest.approx(2.0, rel=0.03)


def test_straight_path_and_its_velocity():
    noise, data = torch.randn(3, 1, 2, 2), torch.rand(3, 1, 2, 2)
    torch.testing.assert_close(flow.interpolate(noise, data, torch.zeros(3)), noise)
    torch.testing.assert_close(flow.interpolate(noise, data, torch.ones(3)), data)
    t, h = torch.full((3,), 0.3), 1e-3
    finite_difference = (flow.interpolate(noise, data, t + h) - flow.interpolate(noise, data, t - h)) / (2 * h)
    torch.testing.assert_close(finite_difference, flow.target_velocity(noise, data), rtol=1e-3, atol=1e-3)
    # SD3 / diffusers: the same point is (1 - sigma) * data + sigma * noise, trained on noise - data
    sigma, v_sd3 = flow.to_sd3(t, flow.target_velocity(noise, data))
    s = sigma.reshape(-1, 1, 1, 1)
    torch.testing.assert_close((1 - s) * data + s * noise, flow.interpolate(noise, data, t))
    torch.testing.assert_close(v_sd3, noise - data)
    back_t, back_v = flow.from_sd3(sigma, v_sd3)
    torch.testing.assert_close(back_t, t)
    torch.testing.assert_close(back_v, data - noise)


def gaussian_velocity(m, s):
    """The exact marginal velocity E[data - noise | x_t] for noise N(0, 1), data N(m, s^2), independent pairs."""
    def velocity(x, t):
        t = t.reshape(-1, *([1] * (x.ndim - 1)))
        return m + (t * s ** 2 - (1 - t)) / ((1 - t) ** 2 + t ** 2 * s ** 2) * (x - t * m)
    return velocity


@pytest.mark.parametrize("method,steps,tol,shift", [("euler", 2000, 5e-3, 1.0), ("midpoint", 100, 1e-4, 1.0),
                                                    ("heun", 100, 5e-4, 1.0), ("heun", 100, 5e-3, 3.0)])
def test_fixed_step_solvers_transport_a_gaussian_exactly(method, steps, tol, shift):
    noise = torch.randn(1000, 1, dtype=torch.float64)
    out, nfe = ode_fixed_steps(gaussian_velocity(1.5, 0.5), noise, steps, method, shift)
    torch.testing.assert_close(out, 1.5 + 0.5 * noise, rtol=0, atol=tol)  # the monotone map x -> m + s x
    assert nfe == {"euler": steps, "midpoint": 2 * steps, "heun": 2 * steps - 1}[method]


@pytest.mark.parametrize("method", ["euler", "midpoint", "heun"])
@pytest.mark.parametrize("steps", [1, 2, 4])
def test_fixed_step_solvers_land_on_a_point_mass(method, steps):
    """Data = one point m: the velocity is (m - x) / (1 - t) before t = 1, and at t = 1 (data alone, no trace of
    the noise) the best a network can learn is E[data - noise] = m. Every step lands on m only if no corrector
    is evaluated at t = 1."""
    m = torch.tensor([[2.0, -1.0]], dtype=torch.float64)

    def velocity(x, t):
        t = t.reshape(-1, 1)
        return torch.where(t < 1, (m - x) / (1 - t).clamp(min=1e-12), m.expand_as(x))

    out, _ = ode_fixed_steps(velocity, torch.randn(50, 2, dtype=torch.float64), steps, method)
    torch.testing.assert_close(out, m.expand_as(out))


@pytest.mark.parametrize("t,gamma", [(0.2, 0.5), (0.7, 1.0), (0.95, 0.1)])
def test_churn_back_lands_exactly_on_the_paths_marginal_at_a_noisier_time(t, gamma):
    """Data N(m, s^2): x_t ~ N(t m, t^2 s^2 + (1 - t)^2); after churn_back, the same law at t_hat, whose
    noise-to-signal ratio (1 - t_hat) / t_hat is (1 + gamma) times that of t."""
    g = torch.Generator().manual_seed(0)
    m, s, n = 1.5, 0.5, 400_000
    x = t * (m + s * torch.randn(n, 1, generator=g, dtype=torch.float64)) + (1 - t) * torch.randn(
        n, 1, generator=g, dtype=torch.float64)
    out, t_hat = churn_back(x, t, gamma, g)
    assert (1 - t_hat) / t_hat == pytest.approx((1 + gamma) * (1 - t) / t) and t_hat < t
    assert out.mean().item() == pytest.approx(t_hat * m, abs=5e-3)
    assert out.std().item() == pytest.approx((t_hat ** 2 * s ** 2 + (1 - t_hat) ** 2) ** 0.5, rel=5e-3)
    assert churn_back(x, 0.0, gamma, g)[0] is x and churn_back(x, t, 0.0, g)[0] is x  # noise already / no churn


@pytest.mark.parametrize("method,steps", [("euler", 1000), ("midpoint", 100), ("heun", 100)])
def test_stochastic_fixed_step_sampler_reaches_the_data_distribution(method, steps):
    """With churn the map from the first noise is random, but the law of the endpoints is still N(m, s^2)."""
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(50_000, 1, generator=g, dtype=torch.float64)
    out, nfe = ode_fixed_steps(gaussian_velocity(1.5, 0.5), noise, steps, method, churn=5.0, generator=g)
    assert out.mean().item() == pytest.approx(1.5, abs=0.01) and out.std().item() == pytest.approx(0.5, abs=0.01)
    assert (out - (1.5 + 0.5 * noise)).abs().mean() > 0.05  # not the deterministic map: noise was added
    assert nfe == {"euler": steps, "midpoint": 2 * steps, "heun": 2 * steps - 1}[method]


def test_shifted_time_grid_is_sd3s_noise_level_shift():
    assert flow_time_grid(4) == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])
    grid = flow_time_grid(4, shift=3.0)
    # sigma = 1 - t; the uniform grid's sigma = 0.5 becomes 3 * 0.5 / (1 + 2 * 0.5) = 0.75, i.e. t = 0.25
    assert grid[0] == 0 and grid[-1] == 1 and grid[2] == pytest.approx(0.25)
    assert all(b > a for a, b in zip(grid, grid[1:])) and grid[1] < 0.25  # small steps near the noise


def test_adaptive_solver_transports_a_gaussian_and_reports_its_evaluations():
    noise = torch.randn(200, 1, dtype=torch.float64)
    out, nfe = ode_adaptive(gaussian_velocity(-2.0, 3.0), noise, rtol=1e-7, atol=1e-7)
    torch.testing.assert_close(out, -2.0 + 3.0 * noise, rtol=0, atol=1e-4)
    assert 10 < nfe < 2000


def test_u_shaped_times_follow_their_density():
    """Density a (e^(a t) + e^(a (1 - t))) / (2 (e^a - 1)) on [0, 1]: compare the empirical CDF with its
    integral, and check the shape: within 0.05 of either end, 3.4 times as likely as within 0.05 of 1/2."""
    t = flow.sample_times(400_000, "u_shaped", torch.Generator().manual_seed(0)).double()
    a = flow.U_SHAPE
    for x in (0.05, 0.2, 0.5, 0.8, 0.95):
        cdf = (math.expm1(a * x) + math.expm1(a) - math.expm1(a * (1 - x))) / (2 * math.expm1(a))
        assert (t <= x).double().mean().item() == pytest.approx(cdf, abs=3e-3)
    ends, middle = ((t < 0.05) | (t > 0.95)).double().mean(), ((t - 0.5).abs() < 0.05).double().mean()
    assert 0 <= t.min() and t.max() <= 1 and ends / middle == pytest.approx(3.4, abs=0.15)


def test_pseudo_huber_is_quadratic_near_zero_and_linear_far_away():
    from aeflow.models.flow import pseudo_huber

    c = 0.00054 * 784 ** 0.5
    small, large = torch.tensor([1e-8], dtype=torch.float64), torch.tensor([100.0], dtype=torch.float64)
    # At zero, sqrt(c^2) - c in float32: c, c^2 and the square root each round once (unit roundoff u = 2^-24),
    # so the value is within a few ulps of c of zero, not exactly zero.
    assert abs(pseudo_huber(torch.zeros(1), 784).item()) <= 4 * 2.0 ** -24 * c
    assert pseudo_huber(small, 784).item() == pytest.approx(1e-8 / (2 * c), rel=1e-3)  # |e|^2 / (2c)
    assert pseudo_huber(large, 784).item() == pytest.approx(10.0 - c, rel=1e-4)       # |e| - c


def test_ot_pairing_is_a_permutation_with_lower_cost():
    torch.manual_seed(0)
    noise, data = torch.randn(64, 5), torch.randn(64, 5) + 2
    paired = flow.ot_pair(noise, data)
    assert sorted(map(tuple, paired.tolist())) == sorted(map(tuple, noise.tolist()))
    assert (paired - data).pow(2).sum() < (noise - data).pow(2).sum()
    one_d = flow.ot_pair(torch.randn(50, 1), torch.linspace(0, 1, 50)[:, None])
    assert torch.equal(one_d[:, 0], one_d[:, 0].sort().values)  # in 1-D, OT is the sorted (monotone) pairing
