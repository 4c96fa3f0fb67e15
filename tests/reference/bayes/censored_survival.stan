// A random-intercept tobit or Weibull proportional-hazards model, written as mejax.bayes
// samples it: beta ~ normal(0, prior_sd), var_u and the tobit's sigma2 ~ inv_gamma(ig_shape,
// ig_scale), the Weibull's ln_p ~ normal(0, prior_sd), random intercepts non-centred
// (b_j = sqrt(var_u) * u_j, u ~ N(0, 1)). Stan 2.21 syntax (Debian's rstan).
// family 1: tobit, y <= 0 left-censored at 0, y >= ul right-censored at the row's limit ul.
// family 2: Weibull PH, y the time, h(t) = p t^(p-1) exp(eta), fail the failure indicator.
data {
  int<lower=1> N;
  int<lower=1> P;
  int<lower=1> J;
  int<lower=1, upper=2> family;
  matrix[N, P] X;
  int<lower=1, upper=J> g[N];
  vector[N] y;
  vector[N] ul;
  int<lower=0, upper=1> fail[N];
  real<lower=0> prior_sd;
  real<lower=0> ig_shape;
  real<lower=0> ig_scale;
}
parameters {
  vector[P] beta;
  real<lower=0> var_u;
  vector[J] u;
  real<lower=0> sigma2[family == 1 ? 1 : 0];
  real ln_p[family == 2 ? 1 : 0];
}
model {
  vector[N] eta = X * beta + sqrt(var_u) * u[g];
  beta ~ normal(0, prior_sd);
  var_u ~ inv_gamma(ig_shape, ig_scale);
  u ~ std_normal();
  if (family == 1) {
    real s = sqrt(sigma2[1]);
    sigma2[1] ~ inv_gamma(ig_shape, ig_scale);
    for (i in 1:N) {
      if (y[i] <= 0)
        target += normal_lcdf(0 | eta[i], s);
      else if (y[i] >= ul[i])
        target += normal_lccdf(ul[i] | eta[i], s);
      else
        target += normal_lpdf(y[i] | eta[i], s);
    }
  } else {
    real p = exp(ln_p[1]);
    ln_p[1] ~ normal(0, prior_sd);
    for (i in 1:N)
      target += fail[i] * (ln_p[1] + eta[i] + (p - 1) * log(y[i])) - exp(eta[i]) * pow(y[i], p);
  }
}
